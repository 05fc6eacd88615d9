"""Date and time functions: the event time, parsing, calendar fields and formatting.

Every function here that takes an optional date (``hourofday([d])``) reads the **event time**
when the argument is absent, never the wall clock, so a replay computes the same values. The
event time reaches the implementation first, as epoch milliseconds (``context="time"``).

Conventions shared by the whole group:

- an absent optional date is the event time; an explicitly missing one (``hourofday(no_such)``)
  is missing, not the event time; ``""`` and ``[]`` are missing too (empty, not wrong);
- an unreadable date (``"not a date"``, ``true``, a map) is a runtime failure (`EvalFailure`):
  the field yields missing and its error counter goes up;
- a string with an explicit offset gives its calendar fields in that offset (Go's behaviour:
  ``hourofday("2014-04-07T16:58:55-07:00")`` is 16); dates, epochs and zone-less strings are UTC;
- relative strings (``"now-1d"``) are anchored at the event time;
- dates returned are UTC instants with millisecond precision.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from engine.lang.dates import parse_date, parse_date_in, parse_date_local, parse_layout, zone
from engine.lang.registry import function
from engine.lang.values import (
    EvalFailure,
    Value,
    date_to_ms,
    epoch_to_date,
    ms_to_date,
    to_str,
    type_name,
)

GROUP = "time"
_ABSENT: Any = object()  # an optional argument the call did not pass
_DATE_ARG = "date|string|int"


def _fail(what: str, v: Value) -> EvalFailure:
    text = repr(v)
    if len(text) > 60:
        text = text[:57] + "..."
    return EvalFailure(f"{what}: {type_name(v)} {text}")


def _date(v: Value, ts: int, *, local: bool = False) -> datetime | None:
    """Read a date argument: None when empty, EvalFailure when unreadable.

    `local` keeps a string's own offset (for calendar fields); otherwise the result is UTC.
    """
    if isinstance(v, str):
        if not v:
            return None
        d = parse_date_local(v, ts) if local else parse_date(v, ts)
    elif isinstance(v, datetime):
        return v
    elif v is None:
        return None
    elif isinstance(v, bool):
        d = None
    elif isinstance(v, int | float):
        d = epoch_to_date(v)
    elif isinstance(v, list):
        return _date(v[0], ts, local=local) if v else None
    else:
        d = None
    if d is None:
        raise _fail("not a date", v)
    return d


def _when(ts: int, d: Value) -> datetime | None:
    """The optional date of a calendar function: the event time when absent."""
    if d is _ABSENT:
        return ms_to_date(ts)
    return _date(d, ts, local=True)


def _inline_epochms(args: Sequence[str], consts: Sequence[Any]) -> str | None:
    return "ts" if not args else None


def _inline_hourofday(args: Sequence[str], consts: Sequence[Any]) -> str | None:
    return "(ts // 3600000 % 24)" if not args else None


# --- the event time ----------------------------------------------------------------------


@function(
    "now",
    "() -> date",
    doc="The event time as a date (not the wall clock, so replays are deterministic).",
    group=GROUP,
    context="time",
    safe=True,
    examples=[("now()", '"2014-04-07T16:58:55.000Z"')],
)
def _now(ts: int) -> Value:
    return ms_to_date(ts)


@function(
    "epochms",
    "() -> int",
    doc="The event time in Unix milliseconds.",
    group=GROUP,
    context="time",
    safe=True,
    inline=_inline_epochms,
    examples=[("epochms()", "1396889935000")],
)
def _epochms(ts: int) -> Value:
    return ts


# --- parsing -----------------------------------------------------------------------------


@function(
    "todate",
    "(x: date|string|int, s?: string) -> date",
    doc='Parse a date (any known spelling, epoch, or "now-30d" relative to the event time); '
    "todate(layout, s) reads s with a Go layout.",
    group=GROUP,
    context="time",
    examples=[
        ('todate("Apr 7, 2014 4:58:55 PM")', '"2014-04-07T16:58:55.000Z"'),
        ('todate("now-1d")', '"2014-04-06T16:58:55.000Z"'),
        ('todate("02/01/2006", "07/04/2014")', '"2014-04-07T00:00:00.000Z"'),
    ],
)
def _todate(ts: int, x: Value, s: Value = _ABSENT) -> Value:
    if s is _ABSENT:
        return _date(x, ts)
    if s is None or s == "":
        return None
    if not isinstance(x, str) or not x:
        raise _fail("not a date layout", x)
    text = s if isinstance(s, str) else to_str(s) if isinstance(s, int) else None
    d = parse_layout(x, text) if text is not None else None
    if d is None:
        raise _fail(f"does not match layout {x!r}", s)
    return d


def _zone_constant(index: int, value: object) -> str | None:
    """A constant zone is checked when the config loads, as qlbridge checks it when it parses."""
    if index != 1 or not isinstance(value, str) or zone(value) is not None:
        return None
    return (
        f"unknown time zone {value!r:.40}; use an IANA name such as America/Los_Angeles, "
        "UTC or an offset such as +05:30"
    )


@function(
    "todatein",
    "(s: date|string|int, tz: string) -> date",
    doc="Parse a zone-less date string as wall time in an IANA zone and return the UTC instant.",
    group=GROUP,
    context="time",
    check_constant=_zone_constant,
    examples=[('todatein("2024-11-15", "America/Los_Angeles")', '"2024-11-15T08:00:00.000Z"')],
)
def _todatein(ts: int, s: Value, tz: Value) -> Value:
    if s == "" or tz == "" or s == []:
        return None
    where = zone(tz) if isinstance(tz, str) else None
    if where is None:
        raise _fail("not a time zone", tz)
    if isinstance(s, list):
        s = s[0]
    if not isinstance(s, str):
        return _date(s, ts)
    d = parse_date_in(s, where, ts)
    if d is None:
        raise _fail("not a date", s)
    return d


@function(
    "totimestamp",
    "(d: date|string|int) -> int",
    doc="A date as Unix seconds.",
    group=GROUP,
    context="time",
    examples=[('totimestamp("Apr 7, 2014 4:58:55 PM")', "1396889935")],
)
def _totimestamp(ts: int, d: Value) -> Value:
    when = _date(d, ts)
    return None if when is None else date_to_ms(when) // 1000


# --- calendar fields ---------------------------------------------------------------------


@function(
    "yy",
    f"(d?: {_DATE_ARG}) -> int",
    doc="Two-digit year (0–99) of a date, default the event time; missing before 1900.",
    group=GROUP,
    context="time",
    examples=[('yy("01/02/1956")', "56"), ("yy()", "14")],
)
def _yy(ts: int, d: Value = _ABSENT) -> Value:
    when = _when(ts, d)
    if when is None or when.year < 1900:
        return None
    return when.year % 100


@function(
    "mm",
    f"(d?: {_DATE_ARG}) -> int",
    doc="Month (1–12) of a date, default the event time.",
    group=GROUP,
    aliases=["monthofyear"],
    context="time",
    examples=[('mm("10/13/2014")', "10"), ("mm()", "4")],
)
def _mm(ts: int, d: Value = _ABSENT) -> Value:
    when = _when(ts, d)
    return None if when is None else when.month


@function(
    "yymm",
    f"(d?: {_DATE_ARG}) -> string",
    doc='Two-digit year and month ("YYMM") of a date, default the event time.',
    group=GROUP,
    context="time",
    examples=[('yymm("10/13/2014")', '"1410"'), ("yymm()", '"1404"')],
)
def _yymm(ts: int, d: Value = _ABSENT) -> Value:
    when = _when(ts, d)
    return None if when is None else f"{when.year % 100:02d}{when.month:02d}"


@function(
    "dayofweek",
    f"(d?: {_DATE_ARG}) -> int",
    doc="Day of the week (0 = Sunday … 6 = Saturday) of a date, default the event time.",
    group=GROUP,
    context="time",
    examples=[('dayofweek("Apr 8, 2014")', "2"), ("dayofweek()", "1")],
)
def _dayofweek(ts: int, d: Value = _ABSENT) -> Value:
    if d is _ABSENT:
        return (ts // 86_400_000 + 4) % 7  # 1970-01-01 was a Thursday
    when = _date(d, ts, local=True)
    return None if when is None else when.isoweekday() % 7


@function(
    "hourofday",
    f"(d?: {_DATE_ARG}) -> int",
    doc="Hour (0–23) of a date, default the event time (UTC); a string keeps its own offset.",
    group=GROUP,
    context="time",
    inline=_inline_hourofday,
    examples=[("hourofday()", "16"), ('hourofday("2014-04-07T16:58:55-07:00")', "16")],
)
def _hourofday(ts: int, d: Value = _ABSENT) -> Value:
    if d is _ABSENT:
        return ts // 3_600_000 % 24
    when = _date(d, ts, local=True)
    return None if when is None else when.hour


@function(
    "hourofweek",
    f"(d?: {_DATE_ARG}) -> int",
    doc="Hour of the week (0–167, weekday × 24 + hour, Sunday first), default the event time.",
    group=GROUP,
    context="time",
    examples=[("hourofweek()", "40"), ('hourofweek("2014-04-08T01:00:00Z")', "49")],
)
def _hourofweek(ts: int, d: Value = _ABSENT) -> Value:
    when = _when(ts, d)
    return None if when is None else (when.isoweekday() % 7) * 24 + when.hour


# --- durations and formatting ------------------------------------------------------------

_DURATION = re.compile(r"M?(?:(?:(\d+):)?(\d+):)?(\d+(?:\.\d+)?)")


@function(
    "seconds",
    "(x: string|date|int|number) -> number",
    doc='Seconds in a duration ("30", "MM:SS", "H:MM:SS", "M10:30"), or a date as Unix seconds.',
    group=GROUP,
    context="time",
    examples=[('seconds("M10:30")', "630"), ('seconds("30")', "30")],
)
def _seconds(ts: int, x: Value) -> Value:
    if isinstance(x, list):
        if not x:
            return None
        x = x[0]
    if isinstance(x, bool):
        raise _fail("not a duration", x)
    if isinstance(x, int | float):
        if not math.isfinite(x):
            raise _fail("not a duration", x)
        return float(x)
    if isinstance(x, datetime):
        return date_to_ms(x) / 1000
    if not isinstance(x, str):
        raise _fail("not a duration", x)
    text = x.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit() and (d := parse_date(text, ts)) is not None:
        # qlbridge reads a date first: digits of a date's length are one ("1438445529707" is
        # epoch ms, "20150704" a day), any other run of digits a count of seconds
        return float(date_to_ms(d) // 1000)
    m = _DURATION.fullmatch(text)
    if m:
        hours, minutes, secs = m.groups()
        return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(secs)
    d = parse_date(text, ts)
    if d is not None:
        return float(date_to_ms(d) // 1000)  # whole seconds, as Go's Unix()
    seconds = _loose_duration(text)
    if seconds is None:
        raise _fail("not a duration or date", x)
    return seconds


def _loose_duration(text: str) -> float | None:
    """qlbridge's last readings of a duration: a signed number (``"-45"``), or ``MIN:SEC`` with
    either part a decimal (``"00.00:30.60"`` is 30.6); a part that is no number counts 0, and
    a total of 0 is no answer."""
    text = text.removeprefix("M")
    if ":" not in text:
        return _decimal(text)
    parts = text.split(":")
    if len(parts) != 2:
        return None
    minutes, secs = (_decimal(p) or 0.0 for p in parts)
    return 60 * minutes + secs if minutes > 0 or secs > 0 else None


def _decimal(text: str) -> float | None:
    try:
        f = float(text)
    except ValueError:
        return None
    return f if math.isfinite(f) and text.strip() == text and "_" not in text else None


@function(
    "extract",
    f"(d: {_DATE_ARG}, fmt: string) -> string",
    doc='Format a date with Python strftime codes (%Y %m %d %H %B …): "October".',
    group=GROUP,
    aliases=["strftime"],
    context="time",
    examples=[
        ('extract("10/13/2014", "%B")', '"October"'),
        ('extract("4/7/14", "%Y-%m")', '"2014-04"'),
    ],
)
def _extract(ts: int, d: Value, fmt: Value) -> Value:
    if not isinstance(fmt, str):
        raise _fail("not a format", fmt)
    when = _date(d, ts, local=True)
    if when is None or not fmt:
        return None
    try:
        out = when.strftime(fmt)
    except ValueError as exc:
        raise _fail("bad format", fmt) from exc
    return out or None


# --- unixtrunc (qlbridge's time.go) ------------------------------------------------------------


def _fixed(ms: int, per_second: int, digits: int) -> str:
    """Seconds with `digits` decimals, as qlbridge prints them: the whole part truncated toward
    zero and the fraction's digits unsigned, so -0.5 s prints "0.500" (kept for fidelity)."""
    ticks = ms * (per_second // 1000)
    whole = abs(ticks) // per_second * (1 if ticks >= 0 else -1)
    return f"{whole}.{abs(ticks) % per_second:0{digits}d}"


_PRECISIONS: dict[str, Callable[[int], str]] = {
    "s": lambda ms: _fixed(ms, 1000, 3),
    "seconds": lambda ms: _fixed(ms, 1000, 3),
    "ms": str,
    "milliseconds": str,
    "sm": lambda ms: _fixed(ms, 1_000_000, 6),
    "secondsmicro": lambda ms: _fixed(ms, 1_000_000, 6),
}


@function(
    "unixtrunc",
    f"(d: {_DATE_ARG}, precision?: string) -> string",
    doc='A date as Unix time text: whole seconds, or with `precision` "s" (seconds.mmm), "ms" '
    '(milliseconds) or "sm" (seconds.micro; dates hold milliseconds).',
    group=GROUP,
    context="time",
    examples=[
        ('unixtrunc("1438445529707")', '"1438445529"'),
        ('unixtrunc("1438445529707", "seconds")', '"1438445529.707"'),
        ('unixtrunc("10/13/2014", "ms")', '"1413158400000"'),
    ],
)
def _unixtrunc(ts: int, d: Value, precision: Value = _ABSENT) -> Value:
    when = _date(d, ts)
    if when is None:
        return None
    ms = date_to_ms(when)
    if precision is _ABSENT:
        return str(ms // 1000)  # floor, as Go's Unix()
    if not isinstance(precision, str) or precision.lower() not in _PRECISIONS:
        raise _fail("not a unixtrunc precision", precision)
    return _PRECISIONS[precision.lower()](ms)

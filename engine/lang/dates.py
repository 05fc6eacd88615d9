"""Date parsing: the many spellings of a date that events carry, and relative dates.

`parse_date` is the one place a string becomes a date, for comparisons, `todate` and the
event-time expression of a stream. It tries, in order:

1. ISO 8601 / RFC 3339 through ``datetime.fromisoformat`` (the fast path events mostly take);
2. digit strings: 10 digits epoch seconds, 13 ms, 16 µs, 19 ns; 4/6/8/12/14 digits
   ``yyyy[mm[dd[HHMM[SS]]]]``; ``1396889935.123`` epoch seconds with a fraction;
3. relative dates ``now``, ``now-30d``, ``now+2h-15m`` (units ``s m h d w M y``; ``M`` and ``y``
   are calendar months and years, the day clamped to the month's end), anchored at `anchor_ms`;
4. the common spellings of Go's dateparse: ``Apr 7, 2014 4:58:55 PM``, ``10/13/2014``, ``4/7/14``
   (month first, always), ``2014/04/07``, ``06/Jan/2008:15:04:05 -0700``, RFC 1123/850/2822,
   ANSI C, Ruby and JavaScript ``Date`` strings, ``2014年04月08日``.

A string without a zone is UTC. Dates have millisecond precision (finer digits are truncated).
`parse_date_local` keeps a string's own offset (``hourofday("…T16:58:55-07:00")`` is 16),
`parse_date_in` reads a zone-less string as wall time in a given zone (``todatein``) and
`parse_layout` reads a string with a Go reference layout (``todate("02/01/2006", s)``).
"""

from __future__ import annotations

import re
import time
from calendar import monthrange
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.lang.values import EPOCH, date_to_ms, ms_to_date

__all__ = ["parse_date", "parse_date_in", "parse_date_local", "parse_layout", "zone"]

_MONTHS: dict[str, int] = {}
for _i, _names in enumerate(
    (
        ("jan", "january"),
        ("feb", "february"),
        ("mar", "march"),
        ("apr", "april"),
        ("may",),
        ("jun", "june"),
        ("jul", "july"),
        ("aug", "august"),
        ("sep", "sept", "september"),
        ("oct", "october"),
        ("nov", "november"),
        ("dec", "december"),
    ),
    start=1,
):
    for _name in _names:
        _MONTHS[_name] = _i

_WEEKDAYS = frozenset(
    (
        *("mon", "monday", "tue", "tues", "tuesday", "wed", "weds", "wednesday"),
        *("thu", "thur", "thurs", "thursday", "fri", "friday", "sat", "saturday"),
        *("sun", "sunday"),
    )
)

# Zone abbreviations read as fixed offsets (minutes). RFC 822's set plus the common ones that
# are not ambiguous; an abbreviation outside this table makes the string unreadable rather than
# silently UTC (IST, for one, means three different offsets).
_ABBREVIATIONS: dict[str, int] = {
    "Z": 0, "UT": 0, "UTC": 0, "GMT": 0, "WET": 0,
    "EST": -300, "EDT": -240, "CST": -360, "CDT": -300,
    "MST": -420, "MDT": -360, "PST": -480, "PDT": -420,
    "AKST": -540, "AKDT": -480, "HST": -600,
    "BST": 60, "CET": 60, "CEST": 120, "WEST": 60, "EET": 120, "EEST": 180, "MSK": 180,
    "SGT": 480, "HKT": 480, "JST": 540, "KST": 540,
    "AEST": 600, "AEDT": 660, "NZST": 720, "NZDT": 780,
}  # fmt: skip

_OFFSET = re.compile(r"(?:UTC|GMT|UT)?([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?", re.I)

# Building blocks of the slow-path patterns. Each pattern is matched with fullmatch.
_TIME = (
    r"(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,:](?P<F>\d{1,9}))?)?"
    r"(?:\s*(?P<AP>[ap]\.?m\.?))?"
)
_ZONE_NAME = r"Z|(?:UTC|GMT|UT)?[+-]\d{1,2}(?::?\d{2})?|[a-z]{2,5}"
_ZONE = (
    rf"(?:\s*(?P<Z>{_ZONE_NAME}))?"
    r"(?:\s+(?P<Z2>[a-z]{2,5}|[+-]\d{2}(?::?\d{2})?))?"
    r"(?:\s*\([^()]*\))?"
)
_WEEKDAY = r"(?:(?P<wd>[a-z]{3,9})\.?,?\s+)?"

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.I))
    for kind, pattern in (
        # 2014/04/07, 10/13/2014, 4/7/14, 2014-Feb-03, 06/Jan/2008:15:04:05 -0700, 3.31.2014 …
        (
            "numeric",
            r"(?P<a>\d{1,4})(?P<sep>[/.\-])(?P<b>\d{1,2}|[a-z]{3,9})(?:(?P=sep)(?P<c>\d{1,4}))?"
            rf"(?:(?:\s*[T\s]\s*|:){_TIME}{_ZONE})?",
        ),
        # Apr 7, 2014 4:58:55 PM; October 7th, 1970; Fri Jul 03 2015 18:04:07 GMT+0100 (BST)
        (
            "mdy",
            _WEEKDAY + r"(?P<mo>[a-z]{3,9})\.?\s*(?P<d>\d{1,2})(?:st|nd|rd|th)?"
            r"(?:\s*,\s*|\s+)(?P<y>'?\d{2}|\d{4})"
            rf"(?:(?:\s*,\s*|\s+(?:at\s+)?){_TIME}{_ZONE})?",
        ),
        # Mon, 07 Apr 2014 16:58:55 GMT; Monday, 02-Jan-06 15:04:05 MST; 12 Feb 2006, 19:17
        (
            "dmy",
            _WEEKDAY + r"(?P<d>\d{1,2})(?:st|nd|rd|th)?[\s\-](?P<mo>[a-z]{3,9})\.?,?[\s\-]"
            rf"(?P<y>\d{{4}}|\d{{2}})(?:(?:\s*,\s*|\s+){_TIME}{_ZONE})?",
        ),
        # ANSI C, Unix date and Ruby: Mon Jan  2 15:04:05 [MST|-0700] 2006
        (
            "ansic",
            r"(?P<wd>[a-z]{3,9}),?\s+(?P<mo>[a-z]{3,9})\s+(?P<d>\d{1,2})\s+"
            rf"{_TIME}(?:\s+(?P<Z>{_ZONE_NAME}))?\s+(?P<y>\d{{4}})",
        ),
        ("cjk", r"(?P<y>\d{4})年(?P<mo>\d{1,2})月(?P<d>\d{1,2})日" rf"(?:\s*{_TIME}{_ZONE})?"),
    )
)

_RELATIVE = re.compile(r"(?i:now)((?:\s*[+-]\s*\d+\s*[smhdwMy])*)")
_RELATIVE_TERM = re.compile(r"([+-])\s*(\d+)\s*([smhdwMy])")
_MEANT_RELATIVE = re.compile(r"(?i:now)\s*[+-]")
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_EPOCH_FRACTION = re.compile(r"(\d{9,10})\.(\d{1,9})")
_last_relative: dict[str, tuple[int, datetime]] = {}  # text -> (anchor, instant)


class _Unreadable(Exception):
    """Internal signal that a matched spelling names no real date; never leaves this module."""


# --- public entry points -----------------------------------------------------------------


def parse_date(text: str, anchor_ms: int | None = None) -> datetime | None:
    """Parse `text` as a UTC instant; ``now-30d`` style strings are relative to `anchor_ms`.

    `anchor_ms` is the event time in mappings and the evaluation clock in audiences; ``None``
    means the wall clock. Returns an aware UTC datetime with ms precision, or None.
    """
    if anchor_ms is not None and text[:1] in ("n", "N"):
        # an audience filter reads "now-30d" once per profile, at one clock reading
        hit = _last_relative.get(text)
        if hit is not None and hit[0] == anchor_ms:
            return hit[1]
        found = _parse_slow(text, anchor_ms)
        if found is not None and _RELATIVE.fullmatch(text.strip()):
            if len(_last_relative) > 256:
                _last_relative.clear()
            _last_relative[text] = (anchor_ms, found)
            return found
    try:
        if text.isdigit():  # fromisoformat reads some digit runs as basic-format ISO dates
            raise ValueError
        d = datetime.fromisoformat(text)
    except ValueError:
        found = _parse_slow(text, anchor_ms)
        if found is None:
            return None
        d = found
    except (TypeError, AttributeError):
        return None
    try:
        d = d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)
    except OverflowError:
        return None
    us = d.microsecond
    return d.replace(microsecond=us - us % 1000) if us % 1000 else d


def parse_date_local(text: str, anchor_ms: int | None = None) -> datetime | None:
    """Like `parse_date`, but an explicit offset is kept: the wall clock where it was written.

    Zone-less strings, epochs and relative dates come back in UTC. Calendar functions
    (``hourofday(s)``, ``dayofweek(s)`` …) read their fields from this value.
    """
    d = _parse_any(text, anchor_ms)
    if d is None:
        return None
    return _ms(d.replace(tzinfo=UTC) if d.tzinfo is None else d)


def parse_date_in(text: str, where: tzinfo, anchor_ms: int | None = None) -> datetime | None:
    """Parse `text` as wall time in zone `where` unless it names its own offset; return UTC."""
    d = _parse_any(text, anchor_ms)
    if d is None:
        return None
    try:
        return _ms((d.replace(tzinfo=where) if d.tzinfo is None else d).astimezone(UTC))
    except OverflowError:
        return None


@lru_cache(maxsize=256)
def zone(name: str) -> tzinfo | None:
    """An IANA zone (``America/Los_Angeles``), ``UTC`` or a fixed offset (``+05:30``), or None."""
    name = name.strip()
    if name.upper() in ("UTC", "Z", "GMT", "UT"):
        return UTC
    if _OFFSET.fullmatch(name):
        try:
            return _offset(name)
        except _Unreadable:
            return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


# --- the slow path -----------------------------------------------------------------------


def _ms(d: datetime) -> datetime:
    us = d.microsecond
    return d.replace(microsecond=us - us % 1000) if us % 1000 else d


def _parse_any(text: str, anchor_ms: int | None) -> datetime | None:
    """Naive when the string names no zone, aware when it does (or is an epoch/relative)."""
    if not isinstance(text, str):
        return None
    if text.isdigit():
        return _parse_slow(text, anchor_ms)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return _parse_slow(text, anchor_ms)


def _parse_slow(text: str, anchor_ms: int | None) -> datetime | None:
    s = text.strip()
    if not s or len(s) > 120:
        return None
    try:
        if s.isascii() and s.isdigit():
            return _digits(s)
        if s[0] in "nN":
            m = _RELATIVE.fullmatch(s)
            if m:
                return _relative(m.group(1), anchor_ms)
        if s != text:
            try:
                return datetime.fromisoformat(s)
            except ValueError:
                pass
        m = _EPOCH_FRACTION.fullmatch(s)
        if m:
            ms = int(m.group(1)) * 1000 + int((m.group(2) + "00")[:3])
            return ms_to_date(ms)
        for kind, pattern in _PATTERNS:
            m = pattern.fullmatch(s)
            if m:
                return _build(kind, m)
    except (_Unreadable, ValueError, OverflowError):
        return None
    return None


def relative_terms(text: str) -> str | None:
    """The offset terms of a relative date (``"now-30d"`` → ``"-30d"``), or None."""
    m = _RELATIVE.fullmatch(text.strip())
    return None if m is None else m.group(1)


def relative_problem(text: str) -> str | None:
    """Why a constant spelled as date math (`now`, then a sign) is no relative date, or None.

    qlbridge refuses such a constant when it parses; read as text instead it would compare or
    parse as something no one meant, on every event. A string not starting with ``now+`` or
    ``now-`` ("nowhere") is no date math and is never refused here.
    """
    stripped = text.strip()
    if not _MEANT_RELATIVE.match(stripped) or _RELATIVE.fullmatch(stripped):
        return None
    return (f"{stripped!r:.40} is not a relative date: after `now` each term is a sign, a count "
            "and a unit (s m h d w M y), as in \"now-30d\" or \"now+1h\"")


def crossing_ms(value_ms: int, terms: str) -> int:
    """When ``now<terms>`` reaches `value_ms`: the clock reading at which a comparison of a
    date with a relative date can change (``now-30d`` reaches a date 30 days after it)."""
    fixed = _fixed_offset(terms)
    if fixed is not None:
        return value_ms - fixed
    inverted = "".join(("-" if sign == "+" else "+") + amount + unit
                       for sign, amount, unit in _RELATIVE_TERM.findall(terms))
    at = date_to_ms(_relative(inverted, value_ms))
    # A month or year term clamps the day to the month's end, so a day may have no reading
    # that reaches `value_ms` (``now-1M`` never reaches Jan 31 in February): the first reading
    # that does is then a later midnight, the first of the following month.
    for _ in range(4):
        if date_to_ms(_relative(terms, at)) >= value_ms:
            break
        at = at - at % _UNIT_MS["d"] + _UNIT_MS["d"]
    return at


@lru_cache(maxsize=256)
def _fixed_offset(terms: str) -> int | None:
    """The offset of relative terms in ms, when no term counts months or years."""
    total = 0
    for sign, amount, unit in _RELATIVE_TERM.findall(terms):
        if unit not in _UNIT_MS:
            return None
        total += (1 if sign == "+" else -1) * int(amount) * _UNIT_MS[unit]
    return total


def _digits(s: str) -> datetime | None:
    n = len(s)
    if n == 10:
        return EPOCH + timedelta(seconds=int(s))
    if n == 13:
        return ms_to_date(int(s))
    if n == 16:
        return ms_to_date(int(s) // 1_000)
    if n == 19:
        return ms_to_date(int(s) // 1_000_000)
    if n in (4, 6, 8, 12, 14):  # yyyy[mm[dd[HHMM[SS]]]]
        month, day = int(s[4:6] or 1), int(s[6:8] or 1)
        hour, minute, second = int(s[8:10] or 0), int(s[10:12] or 0), int(s[12:14] or 0)
        return datetime(int(s[:4]), month, day, hour, minute, second)
    return None


def _relative(terms: str, anchor_ms: int | None) -> datetime:
    if anchor_ms is None:
        anchor_ms = time.time_ns() // 1_000_000
    if not terms:
        return ms_to_date(anchor_ms)
    d = ms_to_date(anchor_ms)
    for sign, amount, unit in _RELATIVE_TERM.findall(terms):
        n = int(amount) if sign == "+" else -int(amount)
        if unit in _UNIT_MS:
            d += timedelta(milliseconds=n * _UNIT_MS[unit])
        else:
            d = _add_months(d, n * 12 if unit == "y" else n)
    return d


def _add_months(d: datetime, n: int) -> datetime:
    year, month = divmod(d.year * 12 + d.month - 1 + n, 12)
    month += 1
    return d.replace(year=year, month=month, day=min(d.day, monthrange(year, month)[1]))


def _year(text: str) -> int:
    text = text.lstrip("'")
    y = int(text)
    if len(text) == 2:  # Go's pivot: 69..99 are the 1900s, 00..68 the 2000s
        y += 1900 if y >= 69 else 2000
    return y


def _month(text: str) -> int:
    if text.isdigit():
        return int(text)
    month = _MONTHS.get(text.lower())
    if month is None:
        raise _Unreadable
    return month


def _build(kind: str, m: re.Match[str]) -> datetime:
    g = m.groupdict()
    wd = g.get("wd")
    if wd and wd.lower() not in _WEEKDAYS:
        raise _Unreadable
    if kind == "numeric":
        a, b, c = g["a"], g["b"], g["c"]
        if len(a) == 4:  # yyyy/mm/dd, yyyy-Mon-dd, yyyy-mm
            year, month, day = int(a), _month(b), int(c) if c else 1
            if c and len(c) > 2:
                raise _Unreadable
        elif c is None or len(c) not in (2, 4):
            raise _Unreadable
        elif b.isdigit():  # month first, always (US): 10/13/2014, 4/7/14
            year, month, day = _year(c), int(a), int(b)
        else:  # dd/Mon/yyyy
            year, month, day = _year(c), _month(b), int(a)
    else:
        year, month, day = _year(g["y"]), _month(g["mo"]), int(g["d"])
    hour = int(g["H"]) if g.get("H") else 0
    ap = g.get("AP")
    if ap:
        if hour > 12:
            raise _Unreadable
        pm = ap[0] in "pP"
        hour = (hour % 12) + (12 if pm else 0)
    minute = int(g["M"]) if g.get("M") else 0
    second = int(g["S"]) if g.get("S") else 0
    frac = g.get("F")
    micro = int((frac + "00")[:3]) * 1000 if frac else 0
    tz = _zone_of(g.get("Z"), g.get("Z2"))
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)


def _zone_of(first: str | None, second: str | None) -> tzinfo | None:
    """A numeric offset wins over an abbreviation ("+0200 (CEST)", "+0000 UTC")."""
    zones = [z for z in (first, second) if z]
    for z in zones:
        if z[-1].isdigit():
            return _offset(z)
    for z in zones:
        minutes = _ABBREVIATIONS.get(z.upper())
        if minutes is None:
            raise _Unreadable
        return UTC if minutes == 0 else timezone(timedelta(minutes=minutes))
    return None


def _offset(text: str) -> tzinfo:
    m = _OFFSET.fullmatch(text)
    if not m:
        raise _Unreadable
    sign, hh, mm, ss = m.groups()
    seconds = int(hh) * 3600 + int(mm or 0) * 60 + int(ss or 0)
    if int(hh) > 23 or int(mm or 0) > 59:
        raise _Unreadable
    if seconds == 0:
        return UTC
    return timezone(timedelta(seconds=-seconds if sign == "-" else seconds))


# --- Go reference layouts ----------------------------------------------------------------

# (token, regex, field kinds of its groups), longest first among tokens sharing a first char,
# the way Go's layout scanner reads "2006" before "2" and "Monday" before "Mon" before "MST".
_LAYOUT_TOKENS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("January", r"([A-Za-z]{3,9})", ("month",)),
    ("Jan", r"([A-Za-z]{3,4})", ("month",)),
    ("Monday", r"([A-Za-z]{3,9})", ("weekday",)),
    ("Mon", r"([A-Za-z]{3,4})", ("weekday",)),
    ("MST", r"([A-Za-z]{2,5})", ("zone",)),
    ("2006", r"(\d{4})", ("year",)),
    ("002", r"(\d{3})", ("yearday",)),
    ("01", r"(\d{2})", ("month",)),
    ("02", r"(\d{2})", ("day",)),
    ("03", r"(\d{2})", ("hour12",)),
    ("04", r"(\d{2})", ("minute",)),
    ("05", r"(\d{2})(?:[.,](\d+))?", ("second", "fraction")),
    ("06", r"(\d{2})", ("year2",)),
    ("15", r"(\d{1,2})", ("hour",)),
    ("1", r"(\d{1,2})", ("month",)),
    ("2", r"(\d{1,2})", ("day",)),
    ("_2", r" ?(\d{1,2})", ("day",)),
    ("3", r"(\d{1,2})", ("hour12",)),
    ("4", r"(\d{1,2})", ("minute",)),
    ("5", r"(\d{1,2})(?:[.,](\d+))?", ("second", "fraction")),
    ("PM", r"([AaPp][Mm])", ("ampm",)),
    ("pm", r"([AaPp][Mm])", ("ampm",)),
    ("-07:00:00", r"([+-]\d{2}:\d{2}:\d{2})", ("offset",)),
    ("-070000", r"([+-]\d{6})", ("offset",)),
    ("-07:00", r"([+-]\d{2}:\d{2})", ("offset",)),
    ("-0700", r"([+-]\d{4})", ("offset",)),
    ("-07", r"([+-]\d{2})", ("offset",)),
    ("Z07:00:00", r"(Z|[+-]\d{2}:\d{2}:\d{2})", ("offset",)),
    ("Z070000", r"(Z|[+-]\d{6})", ("offset",)),
    ("Z07:00", r"(Z|[+-]\d{2}:\d{2})", ("offset",)),
    ("Z0700", r"(Z|[+-]\d{4})", ("offset",)),
    ("Z07", r"(Z|[+-]\d{2})", ("offset",)),
)
_LAYOUT_FRACTION = re.compile(r"[.,](0+|9+)(?!\d)")


@lru_cache(maxsize=256)
def _compile_layout(layout: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    regex: list[str] = []
    kinds: list[str] = []
    i = 0
    while i < len(layout):
        m = _LAYOUT_FRACTION.match(layout, i)
        if m:
            digits = m.group(1)
            n = len(digits)
            regex.append(rf"[.,](\d{{{n}}})" if digits[0] == "0" else r"(?:[.,](\d+))?")
            kinds.append("fraction")
            i = m.end()
            continue
        for token, pattern, token_kinds in _LAYOUT_TOKENS:
            if layout.startswith(token, i):
                regex.append(pattern)
                kinds.extend(token_kinds)
                i += len(token)
                break
        else:
            regex.append(" +" if layout[i] == " " else re.escape(layout[i]))
            i += 1
    return re.compile("".join(regex)), tuple(kinds)


def parse_layout(layout: str, text: str) -> datetime | None:
    """Parse `text` with a Go reference layout (``"02/01/2006"``); return UTC, or None.

    Zone-less layouts read UTC. A layout without a year cannot name an instant and fails.
    """
    pattern, kinds = _compile_layout(layout)
    m = pattern.fullmatch(text.strip())
    if m is None:
        return None
    f: dict[str, str] = {k: v for k, v in zip(kinds, m.groups(), strict=True) if v is not None}
    try:
        if "year" in f:
            year = int(f["year"])
        elif "year2" in f:
            year = _year(f["year2"])
        else:
            return None
        if "weekday" in f and f["weekday"].lower() not in _WEEKDAYS:
            return None
        hour = int(f.get("hour", f.get("hour12", "0")))
        if "ampm" in f:
            if hour > 12:
                return None
            hour = hour % 12 + (12 if f["ampm"].lower() == "pm" else 0)
        frac = f.get("fraction", "")
        tz: tzinfo = UTC
        if "offset" in f and f["offset"] != "Z":
            tz = _offset(f["offset"])
        elif "zone" in f:
            tz = _zone_of(f["zone"], None) or UTC
        minute, second = int(f.get("minute", "0")), int(f.get("second", "0"))
        micro = int((frac + "00")[:3]) * 1000 if frac else 0
        if "yearday" in f:
            start = datetime(year, 1, 1, hour, minute, second, micro, tzinfo=tz)
            d = start + timedelta(days=int(f["yearday"]) - 1)
            if d.year != year:
                return None
        else:
            month = _month(f.get("month", "1"))
            d = datetime(year, month, int(f.get("day", "1")), hour, minute, second, micro, tz)
        return d.astimezone(UTC)
    except (_Unreadable, ValueError, OverflowError):
        return None

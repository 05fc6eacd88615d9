"""The time functions, called through the registry the way generated code calls them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import engine.lang.functions  # noqa: F401 -- fills the registry
from engine.lang import nodes as n
from engine.lang.parser import parse_expression
from engine.lang.registry import EXAMPLE_TIME_MS, FUNCTIONS
from engine.lang.types import Type
from engine.lang.values import EvalFailure, date_to_ms, format_date, ms_to_date
from tests.helpers import call, evaluate

TS = EXAMPLE_TIME_MS  # 2014-04-07T16:58:55Z, a Monday: the event time of every case below
TIME_FUNCTIONS = (
    *("now", "epochms", "todate", "todatein", "totimestamp", "yy", "mm", "yymm"),
    *("dayofweek", "hourofday", "hourofweek", "seconds", "extract"),
)
OPTIONAL_DATE = ("yy", "mm", "yymm", "dayofweek", "hourofday", "hourofweek")


def d(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def impl(name: str, *args: Any, ts: int = TS) -> Any:
    """Call the implementation directly, so an EvalFailure is visible."""
    return FUNCTIONS[name].impl(ts, *args)


# (function, arguments, expected) — the expected value after the registry's missing rule and
# failure handling: an unreadable input is missing here and raises in test_failures below.
CASES: list[tuple[str, tuple[Any, ...], Any]] = [
    # now
    ("now", (), d("2014-04-07T16:58:55Z")),
    ("now", (), ms_to_date(TS)),
    # epochms
    ("epochms", (), 1396889935000),
    # todate
    ("todate", ("Apr 7, 2014 4:58:55 PM",), d("2014-04-07T16:58:55Z")),
    ("todate", ("2014-04-07T16:58:55-07:00",), d("2014-04-07T23:58:55Z")),
    ("todate", ("now-1d",), d("2014-04-06T16:58:55Z")),
    ("todate", ("now",), d("2014-04-07T16:58:55Z")),
    ("todate", ("now+2h",), d("2014-04-07T18:58:55Z")),
    ("todate", (1396889935,), d("2014-04-07T16:58:55Z")),
    ("todate", (1396889935000,), d("2014-04-07T16:58:55Z")),
    ("todate", (d("2014-04-07T16:58:55Z"),), d("2014-04-07T16:58:55Z")),
    ("todate", (["4/7/14", "x"],), d("2014-04-07T00:00:00Z")),
    ("todate", ("02/01/2006", "07/04/2014"), d("2014-04-07T00:00:00Z")),
    ("todate", ("20060102", 20140407), d("2014-04-07T00:00:00Z")),
    ("todate", (None,), None),
    ("todate", ("",), None),
    ("todate", ([],), None),
    ("todate", ("02/01/2006", None), None),
    ("todate", ("02/01/2006", ""), None),
    ("todate", ("not a date",), None),
    ("todate", (True,), None),
    ("todate", ({"a": 1},), None),
    ("todate", ("02/01/2006", "2014-04-07"), None),
    ("todate", (5, "07/04/2014"), None),
    # todatein
    ("todatein", ("2024-11-15", "America/Los_Angeles"), d("2024-11-15T08:00:00Z")),
    ("todatein", ("2024-07-01 09:30", "America/Los_Angeles"), d("2024-07-01T16:30:00Z")),
    ("todatein", ("2024-11-15T00:00:00Z", "America/Los_Angeles"), d("2024-11-15T00:00:00Z")),
    ("todatein", (1396889935000, "Asia/Tokyo"), d("2014-04-07T16:58:55Z")),
    ("todatein", (["2024-11-15"], "Europe/Paris"), d("2024-11-14T23:00:00Z")),
    ("todatein", (None, "UTC"), None),
    ("todatein", ("2024-11-15", None), None),
    ("todatein", ("", "UTC"), None),
    ("todatein", ("2024-11-15", ""), None),
    ("todatein", ("2024-11-15", "Mars/Olympus_Mons"), None),
    ("todatein", ("2024-11-15", 5), None),
    ("todatein", ("garbage", "UTC"), None),
    ("todatein", (False, "UTC"), None),
    # totimestamp
    ("totimestamp", ("Apr 7, 2014 4:58:55 PM",), 1396889935),
    ("totimestamp", ("2014-04-07T16:58:55.999Z",), 1396889935),
    ("totimestamp", ("1969-12-31T23:59:59.500Z",), -1),
    ("totimestamp", (1396889935000,), 1396889935),
    ("totimestamp", (None,), None),
    ("totimestamp", ("",), None),
    ("totimestamp", ("soon",), None),
    ("totimestamp", ([1396889935, 2],), 1396889935),
    ("totimestamp", ({"at": 1},), None),
    # yy
    ("yy", (), 14),
    ("yy", ("01/02/1956",), 56),
    ("yy", ("2000-06-01",), 0),
    ("yy", ("1899-12-31",), None),
    ("yy", (None,), None),
    ("yy", ("",), None),
    ("yy", ("yesterday",), None),
    ("yy", (True,), None),
    # mm
    ("mm", (), 4),
    ("mm", ("10/13/2014",), 10),
    ("mm", ("Jan 1, 2014",), 1),
    ("mm", ("2014-12-31T23:30:00-05:00",), 12),  # its own offset, not UTC's January
    ("mm", (None,), None),
    ("mm", ("",), None),
    ("mm", ("13/13/2014",), None),
    ("mm", ({"k": "v"},), None),
    # yymm
    ("yymm", (), "1404"),
    ("yymm", ("10/13/2014",), "1410"),
    ("yymm", ("2001-02-03",), "0102"),
    ("yymm", (None,), None),
    ("yymm", ("",), None),
    ("yymm", ("2014-99-01",), None),
    ("yymm", (1.5e300,), None),
    # dayofweek
    ("dayofweek", (), 1),
    ("dayofweek", ("Apr 8, 2014",), 2),
    ("dayofweek", ("Apr 6, 2014",), 0),
    ("dayofweek", ("Apr 12, 2014",), 6),
    ("dayofweek", ("2014-04-06T20:00:00-07:00",), 0),  # Sunday there, Monday in UTC
    ("dayofweek", (None,), None),
    ("dayofweek", ("",), None),
    ("dayofweek", ("Blursday",), None),
    ("dayofweek", (False,), None),
    # hourofday
    ("hourofday", (), 16),
    ("hourofday", ("2014-04-07T16:58:55-07:00",), 16),
    ("hourofday", ("2014-04-07T16:58:55Z",), 16),
    ("hourofday", ("2014-04-07 03:04:05",), 3),
    ("hourofday", ("Apr 7, 2014 4:58:55 PM",), 16),
    ("hourofday", (d("2014-04-07T23:00:00-07:00"),), 6),  # a date is UTC
    ("hourofday", (1396889935,), 16),
    ("hourofday", ("now-1h",), 15),
    ("hourofday", (None,), None),
    ("hourofday", ("",), None),
    ("hourofday", ("25:00",), None),
    ("hourofday", (True,), None),
    # hourofweek
    ("hourofweek", (), 40),
    ("hourofweek", ("2014-04-07T16:58:55Z",), 40),
    ("hourofweek", ("2014-04-06T00:00:00Z",), 0),
    ("hourofweek", ("2014-04-12T23:59:59Z",), 167),
    ("hourofweek", (None,), None),
    ("hourofweek", ("",), None),
    ("hourofweek", ("someday",), None),
    ("hourofweek", ([True],), None),
    # seconds
    ("seconds", ("M10:30",), 630),
    ("seconds", ("10:30",), 630),
    ("seconds", ("1:02:03",), 3723),
    ("seconds", ("30",), 30),
    ("seconds", ("2.5",), 2.5),
    ("seconds", (45,), 45),
    ("seconds", (d("2014-04-07T16:58:55.500Z"),), 1396889935.5),
    ("seconds", ("2014-04-07T16:58:55Z",), 1396889935),
    # a date first, as qlbridge: digits of a date's length are one, in whole seconds
    ("seconds", ("1438445529707",), 1438445529),
    ("seconds", ("1438445529",), 1438445529),
    ("seconds", ("20150704",), 1435968000),
    ("seconds", ("2014-04-07T16:58:55.900Z",), 1396889935),
    ("seconds", ("12345",), 12345),
    ("seconds", (["30"],), 30),
    ("seconds", (None,), None),
    ("seconds", ("",), None),
    ("seconds", ([],), None),
    ("seconds", ("ten",), None),
    ("seconds", (True,), None),
    ("seconds", (float("nan"),), None),
    # extract
    ("extract", ("10/13/2014", "%B"), "October"),
    ("extract", ("4/7/14", "%Y-%m"), "2014-04"),
    ("extract", ("2014-04-07T16:58:55-07:00", "%H:%M %z"), "16:58 -0700"),
    ("extract", (TS, "%A"), "Monday"),
    ("extract", (None, "%B"), None),
    ("extract", ("10/13/2014", None), None),
    ("extract", ("", "%B"), None),
    ("extract", ("10/13/2014", ""), None),
    ("extract", ("10/13/2014", 5), None),
    ("extract", ("not a date", "%B"), None),
]


@pytest.mark.parametrize(("name", "args", "expected"), CASES, ids=lambda x: repr(x)[:40])
def test_cases(name: str, args: tuple[Any, ...], expected: Any) -> None:
    got = call(name, *args)
    assert got == expected
    assert type(got) is type(expected) or (
        isinstance(expected, int | float) and not isinstance(got, bool)
    )
    if isinstance(got, datetime):
        assert got.tzinfo is UTC


def test_every_function_has_missing_empty_and_wrong_type_cases() -> None:
    for name in TIME_FUNCTIONS:
        if name in ("now", "epochms"):
            continue  # no arguments to get wrong
        args = [a for n, a, _ in CASES if n == name]
        assert any(None in a for a in args), name
        assert any("" in a for a in args if all(isinstance(x, str | None) for x in a)), name
        assert len(args) >= 3, name


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("todate", ("not a date",)),
        ("todate", (True,)),
        ("todate", ({"a": 1},)),
        ("todate", ("02/01/2006", "2014-04-07")),
        ("todate", (5, "07/04/2014")),
        ("todatein", ("2024-11-15", "Mars/Olympus_Mons")),
        ("todatein", ("garbage", "UTC")),
        ("totimestamp", ("soon",)),
        ("yy", ("yesterday",)),
        ("mm", ({"k": "v"},)),
        ("yymm", (1.5e300,)),
        ("dayofweek", ("Blursday",)),
        ("hourofday", ("25:00",)),
        ("hourofday", (True,)),
        ("hourofweek", ([True],)),
        ("seconds", ("ten",)),
        ("seconds", (float("inf"),)),
        ("extract", ("10/13/2014", 5)),
        ("extract", ("not a date", "%B")),
    ],
)
def test_unreadable_input_is_a_failure(name: str, args: tuple[Any, ...]) -> None:
    with pytest.raises(EvalFailure):
        impl(name, *args)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("todate", ("",)),
        ("todate", ([],)),
        ("todatein", ("", "UTC")),
        ("seconds", ("  ",)),
        ("extract", ("", "%B")),
        *[(name, ("",)) for name in OPTIONAL_DATE],
        *[(name, (None,)) for name in OPTIONAL_DATE],
    ],
)
def test_empty_input_is_missing_not_a_failure(name: str, args: tuple[Any, ...]) -> None:
    assert impl(name, *args) is None


@pytest.mark.parametrize("name", OPTIONAL_DATE)
def test_absent_date_is_the_event_time_but_missing_is_missing(name: str) -> None:
    absent = call(name)
    assert absent is not None
    assert absent == call(name, ms_to_date(TS))
    assert call(name, None) is None


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (0, {"epochms": 0, "hourofday": 0, "dayofweek": 4, "mm": 1, "yy": 70, "yymm": "7001"}),
        (-1, {"epochms": -1, "hourofday": 23, "dayofweek": 3, "mm": 12, "yy": 69}),
        (TS, {"epochms": TS, "hourofday": 16, "dayofweek": 1, "hourofweek": 40, "mm": 4}),
    ],
)
def test_no_argument_uses_the_event_time_not_the_wall_clock(
    ts: int, expected: dict[str, Any]
) -> None:
    for name, value in expected.items():
        assert call(name, ts=ts) == value, name
    assert call("now", ts=ts) == ms_to_date(ts)
    assert call("todate", "now", ts=ts) == ms_to_date(ts)


def test_inline_templates() -> None:
    epochms, hourofday = FUNCTIONS["epochms"], FUNCTIONS["hourofday"]
    assert epochms.inline is not None and hourofday.inline is not None
    assert epochms.inline([], []) == "ts"
    assert hourofday.inline([], []) == "(ts // 3600000 % 24)"
    assert hourofday.inline(["v1"], [None]) is None
    assert epochms.safe and FUNCTIONS["now"].safe
    # hourofday(s) raises EvalFailure on a bad string, so it must not be hoisted as "safe".
    assert not hourofday.safe


@given(st.integers(min_value=-(6 * 10**13), max_value=10**14))  # years 68 to 5138
def test_inline_and_fast_paths_agree_with_the_calendar(ts: int) -> None:
    when = ms_to_date(ts)
    hourofday = FUNCTIONS["hourofday"].inline
    epochms = FUNCTIONS["epochms"].inline
    assert hourofday is not None and epochms is not None
    # The generated code evaluates the template with the event time bound to `ts`.
    hour_source, ms_source = hourofday([], []), epochms([], [])
    assert hour_source is not None and ms_source is not None
    assert eval(hour_source, {}, {"ts": ts}) == when.hour == call("hourofday", ts=ts)
    assert eval(ms_source, {}, {"ts": ts}) == ts == call("epochms", ts=ts)
    assert call("dayofweek", ts=ts) == when.isoweekday() % 7 == call("dayofweek", when)
    assert call("hourofweek", ts=ts) == (when.isoweekday() % 7) * 24 + when.hour


def test_registry_entries() -> None:
    signatures = {name: FUNCTIONS[name].signature.render() for name in TIME_FUNCTIONS}
    assert signatures == {
        "now": "() -> date",
        "epochms": "() -> int",
        "todate": "(x: date|int|string, s?: string) -> date",
        "todatein": "(s: date|int|string, tz: string) -> date",
        "totimestamp": "(d: date|int|string) -> int",
        "yy": "(d?: date|int|string) -> int",
        "mm": "(d?: date|int|string) -> int",
        "yymm": "(d?: date|int|string) -> string",
        "dayofweek": "(d?: date|int|string) -> int",
        "hourofday": "(d?: date|int|string) -> int",
        "hourofweek": "(d?: date|int|string) -> int",
        "seconds": "(x: date|int|number|string) -> number",
        "extract": "(d: date|int|string, fmt: string) -> string",
    }
    assert FUNCTIONS["monthofyear"] is FUNCTIONS["mm"]
    assert FUNCTIONS["strftime"] is FUNCTIONS["extract"]
    for name in TIME_FUNCTIONS:
        entry = FUNCTIONS[name]
        assert entry.group == "time"
        assert entry.context == "time"
        assert entry.nulls == "propagate"
        assert not entry.aggregate
        assert entry.doc and "\n" not in entry.doc
        assert 1 <= len(entry.examples) <= 3


def _json(v: Any) -> str:
    return json.dumps(format_date(v) if isinstance(v, datetime) else v)


@pytest.mark.parametrize(
    ("text", "expected"),
    [ex for name in TIME_FUNCTIONS for ex in FUNCTIONS[name].examples],
)
def test_documented_examples_hold_at_the_event_time(text: str, expected: str) -> None:
    node = parse_expression(text)
    assert isinstance(node, n.Call) and node.name in TIME_FUNCTIONS, text
    got = evaluate(text)
    assert json.loads(_json(got)) == json.loads(expected)


def test_return_types_match_signatures() -> None:
    py = {Type.INT: int, Type.STRING: str, Type.DATE: datetime, Type.NUMBER: float}
    samples = {
        "todate": ("4/7/14",),
        "todatein": ("4/7/14", "UTC"),
        "totimestamp": ("4/7/14",),
        "seconds": ("30",),
        "extract": ("4/7/14", "%d"),
    }
    for name in TIME_FUNCTIONS:
        got = call(name, *samples.get(name, ()))
        assert isinstance(got, py[FUNCTIONS[name].signature.returns]), name


def test_dates_have_millisecond_precision() -> None:
    got = call("todate", "2014-04-07T16:58:55.123456Z")
    assert got == d("2014-04-07T16:58:55.123Z")
    assert date_to_ms(got) == TS + 123

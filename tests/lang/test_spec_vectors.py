"""The exact behaviours of docs/functions.md, each pinned through the public Python API
(docs/python-api.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import engine

AT = datetime(2014, 4, 7, 16, 58, 55, tzinfo=UTC)


def ev(expr: str, event: dict[str, Any] | None = None, at: datetime = AT) -> Any:
    return engine.compile_expression(expr).evaluate(event or {}, event_time=at)


@pytest.mark.parametrize(
    ("expr", "event", "expected"),
    [
        # hash / hash.sip: SipHash-2-4, key (0, 1), signed int64
        ('hash("hello")', {}, -8380129865243219425),
        ('hash.sip("http://www.google.com?q=123")', {}, 5673948842516703987),
        ("hash(urlmain(href))", {"href": "https://www.lytics.io/?utm_source=google"},
         1272651684649158109),
        ("hash(x)", {"x": ["http://go.gl", "other"]}, 4903078846009498015),
        ("hash(x)", {"x": 123}, None),
        ("hash(x)", {"x": True}, None),
        ("hash(x)", {"x": 1.5}, None),
        ('hash("")', {}, None),
        ("hash(now())", {}, None),
        ('valuect(hash(urlmain(href)))', {"href": "https://www.lytics.io/?utm_source=google"},
         {"1272651684649158109": 1}),
        ('valuect(hash("hello"))', {}, {"-8380129865243219425": 1}),
        # urlmain
        ('urlmain("https://www.lytics.io/?utm_source=google")', {}, "www.lytics.io/"),
        ('urlmain("HTTPS://WWW.Lytics.IO/Blog/Post#s")', {}, "WWW.Lytics.IO/Blog/Post"),
        ('urlmain("https://user:pw@shop.example.com:8443/cart/?x=1#y")', {},
         "shop.example.com:8443/cart/"),
        ('urlmain("www.example.com/pricing?plan=pro")', {}, "www.example.com/pricing"),
        ('urlmain("http://a.com/%zz")', {}, None),
        ('urlmain("")', {}, None),
        # email
        ('email("Bob <Bob@Bob.com>")', {}, "bob@bob.com"),
        ('email("bob")', {}, None),
        ('email("a@x.com, b@y.com")', {}, None),
        ('email("bob@x..com")', {}, None),
        # time functions read the event time
        ("epochms()", {}, 1396889935000),
        ("hourofday()", {}, 16),
        ('hourofday("2014-04-07T16:58:55-07:00")', {}, 16),
        ('dayofweek("Apr 8, 2014")', {}, 2),
        ("dayofweek()", {}, 1),
        ('mm("2014-01-15")', {}, 1),
        ('mm("2014-12-15")', {}, 12),
        ('yymm("10/13/2014")', {}, "1410"),
        # oneof: first argument neither missing nor ""
        ('oneof(a, b, "c")', {"a": "", "b": None}, "c"),
        ("oneof(a, b)", {"a": 0, "b": "x"}, 0),
        ("oneof(a, b)", {}, None),
        # eq coerces b to a's type; ne(missing, x) is true
        ('eq(4, "4")', {}, True),
        ('eq(x, "4")', {"x": 4}, True),
        ("ne(missing_field, 1)", {}, True),
        ('int4 < "10"', {"int4": 4}, True),
        ('x > "5"', {"x": 10}, True),
        # comparisons with a missing side are false, except !=; NOT applies after
        ("missing_field > 5", {}, False),
        ("missing_field = 5", {}, False),
        ("missing_field != 5", {}, True),
        ("NOT (missing_field > 5)", {}, True),
        # contains / hasprefix / hassuffix with a missing first argument are false
        ('contains(missing_field, "x")', {}, False),
        ('hasprefix(missing_field, "x")', {}, False),
        ('hassuffix(missing_field, "x")', {}, False),
        # date strings without a zone are UTC
        ('epochms() = toint(todate("2014-04-07 16:58:55"))', {}, True),
        ('todate("2014-04-07 16:58:55") = todate("2014-04-07T16:58:55Z")', {}, True),
        # exists: false for missing and "", true otherwise
        ("exists(x)", {"x": 0}, True),
        ("exists(x)", {"x": False}, True),
        ("exists(x)", {"x": ""}, False),
        ("exists(x)", {}, False),
        ("EXISTS x", {"x": None}, False),
        # LIKE: anchored, case-sensitive glob; * and % match any run
        ('x LIKE "ab*"', {"x": "abc"}, True),
        ('x LIKE "ab%"', {"x": "abc"}, True),
        ('x LIKE "b*"', {"x": "abc"}, False),
        ('x LIKE "AB*"', {"x": "abc"}, False),
        ('x LIKE "*c"', {"x": "abc"}, True),
        # CONTAINS on a list: any element contains the substring; IN on a list: any overlap
        ('x CONTAINS "nan"', {"x": ["apple", "banana"]}, True),
        ('x CONTAINS "kiwi"', {"x": ["apple", "banana"]}, False),
        ('x IN ("b", "z")', {"x": ["a", "b"]}, True),
        ('x IN ("y", "z")', {"x": ["a", "b"]}, False),
        ('x IN ("a", "b")', {"x": "a"}, True),
        ('x NOT IN ("a", "b")', {}, True),
        # BETWEEN is exclusive
        ("x BETWEEN 1 AND 5", {"x": 1}, False),
        ("x BETWEEN 1 AND 5", {"x": 3}, True),
        ("x BETWEEN 1 AND 5", {"x": 5}, False),
        # relative dates anchor at the event time
        ('_ts > "now-1d"', {}, True),
        ('todate("2014-04-01") > "now-30d"', {}, True),
        ('todate("2014-03-01") > "now-30d"', {}, False),
        # nested paths walk JSON objects; a flat dotted key wins
        ("data.identifiers.email", {"data": {"identifiers": {"email": "a@b.c"}}}, "a@b.c"),
        ("data.identifiers.email", {"data.identifiers.email": "flat@b.c"}, "flat@b.c"),
        ("`a.b`", {"a.b": 1, "a": {"b": 2}}, 1),
        # inline conditional
        ('"vip" IF spend > 100 ELSE "regular"', {"spend": 150}, "vip"),
        ('"vip" IF spend > 100 ELSE "regular"', {}, "regular"),
    ],
)
def test_vector(expr: str, event: dict[str, Any], expected: Any) -> None:
    assert ev(expr, event) == expected


def test_event_time_is_returned_as_utc_datetime() -> None:
    value = ev("now()")
    assert value == AT
    assert value.tzinfo is not None


def test_runtime_failure_yields_missing_and_is_counted() -> None:
    compiled = engine.compile_expression("hourofday(d)")
    before = compiled.failures
    assert compiled.evaluate({"d": "not a date"}, event_time=AT) is None
    assert compiled.failures == before + 1


def test_event_time_defaults_to_now() -> None:
    compiled = engine.compile_expression("epochms()")
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    assert abs(compiled.evaluate({}) - now_ms) < 60_000

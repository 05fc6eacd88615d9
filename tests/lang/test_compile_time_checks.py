"""Calls qlbridge refuses when it parses are refused when the config loads, with the position and
the reason (docs/language.md); and `seconds` reads the durations qlbridge's table reads."""

from __future__ import annotations

from typing import Any

import pytest

import engine
from engine.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "code", "words", "column"),
    [
        ("any()", "E102", "`any` takes at least 1 argument, got 0", 1),
        ("all()", "E102", "`all` takes at least 1 argument, got 0", 1),
        ("oneof()", "E102", "`oneof` takes at least 1 argument, got 0", 1),
        ("x AND oneof()", "E102", "`oneof` takes at least 1 argument", 7),
        ('todatein(d, "PDT")', "E109", "unknown time zone 'PDT'", 13),
        ('todatein("2024-01-01", "Mars/Olympus")', "E109", "unknown time zone", 24),
        ('url.matchqs(u, "n[")', "E109", "not a valid regular expression (missing ]", 16),
        ('url.matchqs(u, "ok", "(?=x)")', "E109", "not a valid regular expression", 22),
        ('url.matchqs(u, "")', "E109", "an empty pattern", 16),
        ('todatein("now-3days", "America/Los_Angeles")', "E110", "'now-3days' is not a", 10),
        ('todate("now-")', "E110", "'now-' is not a relative date", 8),
        ('created > "now-3x"', "E110", "'now-3x' is not a relative date", 11),
        ('"now+now" = created', "E110", "'now+now' is not a relative date", 1),
        ('created BETWEEN "now-1d" AND "now+"', "E110", "'now+' is not a relative date", 30),
        ('gt(created, "now - 3 days")', "E110", "is not a relative date", 13),
        ('ne(created, "NOW+1x")', "E110", "'NOW+1x' is not a relative date", 13),
    ],
)
def test_refused_when_compiled(text: str, code: str, words: str, column: int) -> None:
    with pytest.raises(ConfigError) as caught:
        engine.compile_expression(text)
    (d,) = caught.value.diagnostics
    assert d.code == code
    assert words in d.message
    assert d.column == column


@pytest.mark.parametrize(
    "text",
    [
        "any(x)",
        "all(x, y)",
        'oneof(x, "")',
        'todatein(d, "America/Los_Angeles")',
        'todatein(d, "UTC")',
        'todatein(d, "+05:30")',
        "todatein(d, zone_field)",  # a zone from the event is checked per event
        'url.matchqs(u, "n[a-z]")',
        "url.matchqs(u, names_field)",  # patterns from the event are compiled per event
        'created > "now - 3 d"',
        'created = "now"',
        'place = "nowhere"',
        'todate("nowadays")',
        'hash.md5("now-playing")',  # no date is read here
        'hasprefix(title, "now-playing")',
    ],
)
def test_accepted(text: str) -> None:
    engine.compile_expression(text)


def test_a_zone_from_the_event_that_is_unknown_gives_missing() -> None:
    compiled = engine.compile_expression("todatein(d, zone_field)")
    assert compiled.evaluate({"d": "2024-01-01", "zone_field": "PDT"}) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # qlbridge's expr/builtins table
        ('seconds("-45")', -45.0),
        ('seconds("00.00:30.60")', 30.6),
        ('seconds("M10:30")', 630.0),
        ('seconds("M30")', 30.0),
        ('seconds("M100:30")', 6030.0),
        ('seconds("00:30")', 30.0),
        ('seconds("30")', 30.0),
        ('seconds("30.6")', 30.6),
        ("seconds(30)", 30.0),
        ("seconds(30.6)", 30.6),
        ('seconds("2015/07/04")', 1435968000.0),
        # neither a duration nor a date
        ('seconds("abc")', None),
        ('seconds("a:b")', None),
    ],
)
def test_seconds(text: str, expected: Any) -> None:
    assert engine.compile_expression(text).evaluate({}) == expected

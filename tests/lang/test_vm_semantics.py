"""Operators with a list or a map on one side, and comparisons with relative dates, as
qlbridge's vm evaluates them (docs/language.md, "Lists and maps" and "Dates")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import engine

AT = datetime(2014, 4, 7, 16, 58, 55, tzinfo=UTC)

EVENT: dict[str, Any] = {
    "hits": {"google.com": 3, "bing.com": 1},
    "email": "bob@lytics.io",
    "city": "New York",
    "roles": ["admin", "api"],
    # JSON events deliver dates as strings
    "created": "2014-03-30T10:00:00Z",
    "old": "2013-12-18T00:00:00Z",
    "stamps": ["2014-04-07T16:00:00Z", "2014-01-01T00:00:00Z"],
}


def ev(expr: str, event: dict[str, Any] | None = None) -> Any:
    return engine.compile_expression(expr).evaluate(
        EVENT if event is None else event, event_time=AT
    )


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # IN / INTERSECTS against a map tests its keys
        ('"google.com" IN hits', True),
        ('"yahoo.com" IN hits', False),
        ('"google.com" NOT IN hits', False),
        ("roles IN hits", False),
        ('["x", "bing.com"] IN hits', True),
        ('hits IN ("bar", "google.com")', True),
        ('hits NOT IN ("not-gonna-happen")', True),
        # CONTAINS with a list of substrings: any one
        ('email CONTAINS ["lss", "bob"]', True),
        ('email CONTAINS ["lss", "zzz"]', False),
        ('email NOT CONTAINS ["lss", "zzz"]', True),
        # LIKE with a list of patterns: any one
        ('"New York" LIKE ["Boston", "New York"]', True),
        ('city LIKE ["Bos*", "New*"]', True),
        ('city LIKE ["Boston", "Chicago"]', False),
        # = with a list on the right: any item, each coerced to the left side's type
        ('5.5 == ["hello", 3, "5.5"]', True),
        ('5.5 == ["hello", 3]', False),
        ('3 = ["hello", "3"]', True),
        ('"api" = ["x", "api"]', True),
        ('5.5 != ["hello", 3]', True),
        # sum adds the items of a list
        ('sum(["1", "2"])', 3.0),
    ],
)
def test_list_or_map_on_one_side(expr: str, expected: Any) -> None:
    assert ev(expr) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # As text, "2014-…" sorts before "now-…": these four would all be wrong.
        ('created > "now-1M"', True),
        ('created < "now-1M"', False),
        ('old < "now-1M"', True),
        ('old >= "now-1M"', False),
        ('"now-1M" < created', True),
        ('created BETWEEN "now-1M" AND "now"', True),
        ('NOT (created > "now-1d")', True),
        # a list matches when any item does; strings that are no date never match
        ('stamps > "now-1h"', True),
        ('stamps > "now-1m"', False),
        ('["hello", "apple"] < "now-1h"', False),
        ('["hello", "apple"] > "now-1h"', False),
        ('"hello" < "now-1h"', False),
        ('missing_field < "now-1h"', False),
        # the function forms agree
        ('gt(created, "now-1M")', True),
        ('lt(old, "NOW-1M")', True),
        # equality at the millisecond: now-8d is 2014-03-30T16:58:55Z
        ('"2014-03-30T16:58:55Z" = "now-8d"', True),
        ('created = "now-8d"', False),
        # plain strings still compare as text
        ('"nowhere" > "nov"', True),
        ('"nowhere" > "now"', False),
        ('"b" > "a"', True),
    ],
)
def test_relative_date_compares_as_time(expr: str, expected: Any) -> None:
    assert ev(expr) is expected


def test_relative_dates_stay_anchored_at_the_event_time() -> None:
    compiled = engine.compile_expression('created > "now-1M"')
    assert compiled.evaluate(EVENT, event_time=AT) is True
    later = datetime(2014, 6, 1, tzinfo=UTC)
    assert compiled.evaluate(EVENT, event_time=later) is False
    # the same event at the same time gives the same answer, whatever the wall clock says
    assert compiled.evaluate(EVENT, event_time=AT) is True

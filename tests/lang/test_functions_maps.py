"""`mapinvert` and `maptime`, with the rows of qlbridge's builtins test table for each."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import engine.lang.functions  # noqa: F401 -- fills the registry
from tests.helpers import assert_documented, call, evaluate
from tests.lang.qlbridge_rows import EVENT, TS

SIGNATURES = {
    "mapinvert": "(m: map) -> map",
    "maptime": "(key: bool|date|int|list|number|string, t?: date|int|number|string) -> map",
}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_registered(name: str) -> None:
    assert_documented(name, SIGNATURES[name])


# qlbridge builtins_test.go: maptime and mapinvert.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("maptime(event)", {"hello": TS}),
        ('maptime(event, "2016-02-03T22:00:00")', {"hello": datetime(2016, 2, 3, 22, tzinfo=UTC)}),
        ('maptime("")', None),
        ('maptime("",now())', None),
        ('maptime("key","not_a_date")', None),
        ('maptime(Address,"")', None),
        ('mapinvert(match("score_","tag_"))', {"22": "amount", "bob": "name"}),
        # qlbridge's `Address` is a Go struct, no map, so its row is an error; a value that is
        # no map is one here too (our `Address` is a map, which inverts).
        ("mapinvert(event)", None),
    ],
)
def test_qlbridge_rows(text: str, expected: Any) -> None:
    assert evaluate(text, EVENT, at=TS) == expected


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("mapinvert", ({"a": 1, "b": None, "c": True},), {"1": "a", "true": "c"}),
        ("mapinvert", ({},), None),
        ("mapinvert", ({"a": "x", "b": "x"},), {"x": "b"}),
        ("maptime", ("Key", None), None),
        ("maptime", (5,), {"5": TS}),
        ("maptime", ("k", 1396889935000), {"k": TS}),
        ("maptime", ("k", "now-1d"), {"k": datetime(2014, 4, 6, 16, 58, 55, tzinfo=UTC)}),
    ],
)
def test_edges(name: str, args: tuple[Any, ...], expected: Any) -> None:
    assert call(name, *args, ts=int(TS.timestamp() * 1000)) == expected

"""List and map functions, called through the registry as generated code calls them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import engine.lang.functions  # noqa: F401 -- fills the registry
from engine.lang.registry import FUNCTIONS
from engine.lang.values import EvalFailure
from tests.helpers import call

NAMES = [
    "map",
    "match",
    "mapkeys",
    "mapvalues",
    "array.index",
    "array.slice",
    "filter",
    "filtermatch",
]

# The event of qlbridge's builtin tests (the parts these functions read).
EVENT: dict[str, Any] = {
    "event": "hello",
    "score_amount": "22",
    "tag_name": "bob",
    "tags": ["a", "b", "c", "d"],
    "sval": "event43,event4=63.00,event228",
}
TAGS = ["a", "b", "c", "d"]
DATE = datetime(2014, 10, 13, tzinfo=UTC)
A_MAP = {"a": 1}


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        # map
        ("map", ("hello", 22), {"hello": 22}),
        ("map", (5, "x"), {"5": "x"}),
        ("map", (5.0, True), {"5": True}),
        ("map", (True, 0), {"true": 0}),
        ("map", (DATE, "x"), {"1413158400000": "x"}),
        ("map", (["k", "j"], ["v"]), {"k": ["v"]}),
        ("map", ("k", {"a": 1}), {"k": {"a": 1}}),
        ("map", ("", 6), None),
        ("map", ("key", ""), None),
        ("map", ("key", []), None),
        ("map", ([], 1), None),
        ("map", (None, 1), None),
        ("map", ("key", None), None),
        ("map", (A_MAP, 1), None),
        # mapkeys
        ("mapkeys", ({"amount": "22", "name": "bob"},), ["amount", "name"]),
        ("mapkeys", ({"a": None},), ["a"]),
        ("mapkeys", ({},), None),
        ("mapkeys", (None,), None),
        ("mapkeys", ("abc",), None),
        ("mapkeys", (["a"],), None),
        # mapvalues: distinct, stringified, in order
        ("mapvalues", ({"amount": "22", "name": "bob"},), ["22", "bob"]),
        ("mapvalues", ({"a": 1, "b": "1", "c": 2.5, "d": True},), ["1", "2.5", "true"]),
        ("mapvalues", ({"a": None, "b": "", "c": ["x", "y"], "d": {"e": 1}},), ["x"]),
        ("mapvalues", ({"a": None},), None),
        ("mapvalues", ({},), None),
        ("mapvalues", (None,), None),
        ("mapvalues", ("abc",), None),
        # array.index: qlbridge's tests, tags = [a b c d]
        ("array.index", (TAGS, 1), "b"),
        ("array.index", (TAGS, -1), "d"),
        ("array.index", (TAGS, -2), "c"),
        ("array.index", (TAGS, "0"), "a"),
        ("array.index", (TAGS, 6), None),
        ("array.index", (TAGS, -6), None),
        ("array.index", (TAGS, 4), None),
        ("array.index", (TAGS, -5), None),
        ("array.index", ([1, {"x": 2}], 1), {"x": 2}),
        ("array.index", ("solo", 0), "solo"),
        ("array.index", ("solo", 1), None),
        ("array.index", ([], 0), None),
        ("array.index", ("", 6), None),
        ("array.index", (None, 0), None),
        ("array.index", (TAGS, None), None),
        ("array.index", (TAGS, "notint"), None),
        ("array.index", (1, 6), None),
        ("array.index", (A_MAP, 0), None),
        # array.slice: qlbridge's tests
        ("array.slice", (TAGS, 2), ["c", "d"]),
        ("array.slice", (TAGS, -2), ["c", "d"]),
        ("array.slice", (TAGS, -1), ["d"]),
        ("array.slice", (TAGS, 1, 3), ["b", "c"]),
        ("array.slice", (TAGS, 1, 4), ["b", "c", "d"]),
        ("array.slice", (TAGS, -3, -1), ["b", "c"]),
        ("array.slice", (TAGS, 0, 0), []),
        ("array.slice", (TAGS, 1, 7), None),
        ("array.slice", (TAGS, 1, -7), None),
        ("array.slice", (TAGS, -1, 77), None),
        ("array.slice", (TAGS, -10, 77), None),
        ("array.slice", (TAGS, 4), None),
        ("array.slice", (TAGS, 3, 1), None),
        ("array.slice", (TAGS, "hello", 77), None),
        ("array.slice", (TAGS, 1, "hello"), None),
        ("array.slice", (["c", "d", 5, 6, 7], 2), [5, 6, 7]),
        ("array.slice", ("", -1, 77), None),
        ("array.slice", ([], 0), None),
        ("array.slice", (None, 1), None),
        ("array.slice", (A_MAP, 1, 10), None),
        # filter: removes matches; glob with * or %, else prefix
        ("filter", (["apples", "oranges"], "ora*"), ["apples"]),
        ("filter", (["apples", "oranges"], "ora"), ["apples"]),
        ("filter", (["apples", "oranges"], "ora%"), ["apples"]),
        ("filter", (["apples", "oranges"], ["ora%", "ban*"]), ["apples"]),
        ("filter", (["apples", "oranges"], ["ora*", "notmatch", "stuff"]), ["apples"]),
        ("filter", (["apples", "oranges", ""], [""]), ["apples", "oranges"]),
        ("filter", (["apples", "oranges"], "*s"), None),
        ("filter", (["a.b", "axb"], "a.*"), ["axb"]),
        ("filter", ({"amount": "22", "name": "bob"}, "nam*"), {"amount": "22"}),
        ("filter", ({"amount": "22", "name": "bob"}, "name"), {"amount": "22"}),
        ("filter", ({"amount": "22"}, "amo"), None),
        ("filter", ("apples", ""), "apples"),
        ("filter", ("apples", "ban*"), "apples"),
        ("filter", ("apples", "ban"), "apples"),
        ("filter", ("apples", "app*"), None),
        ("filter", ("apples", "app"), None),
        ("filter", (["apples"], "app"), None),
        ("filter", ("", ""), None),
        ("filter", ([], "x"), None),
        ("filter", ({}, "x"), None),
        ("filter", (None, "x"), None),
        ("filter", ("apples", None), None),
        ("filter", ([1, 22, 3], "2"), ["1", "3"]),
        # filtermatch: keeps matches
        ("filtermatch", (["event43", "event4=63.00", "event228"], "event4="), ["event4=63.00"]),
        ("filtermatch", ({"amount": "22", "name": "bob"}, "amo*"), {"amount": "22"}),
        ("filtermatch", ({"amount": "22", "name": "bob"}, "amo"), {"amount": "22"}),
        ("filtermatch", ({"amount": "22", "name": "bob"}, "aaa"), None),
        ("filtermatch", ("apples", "app*"), "apples"),
        ("filtermatch", ("apples", "app"), "apples"),
        ("filtermatch", (["apples", "oranges"], "app*"), ["apples"]),
        ("filtermatch", (["apples", "oranges"], "app"), ["apples"]),
        ("filtermatch", (["apples", "oranges"], "app%"), ["apples"]),
        ("filtermatch", (["oranges"], "app%"), None),
        ("filtermatch", ("apples", "bam*"), None),
        ("filtermatch", ("apples", "bam"), None),
        ("filtermatch", (["", "x"], "*"), ["", "x"]),
        ("filtermatch", ("", ""), None),
        ("filtermatch", ([], "x"), None),
        ("filtermatch", (None, "x"), None),
        ("filtermatch", ("apples", A_MAP), None),
    ],
)
def test_call(name: str, args: tuple[Any, ...], expected: Any) -> None:
    got = call(name, *args)
    assert got == expected
    assert type(got) is type(expected)


def test_filter_map_by_prefix_and_glob() -> None:
    m = {"amount": "22", "name": "bob", "nick": "b"}
    assert call("filter", m, "name") == {"amount": "22", "nick": "b"}
    assert call("filter", m, "n*") == {"amount": "22"}
    assert call("filter", m, "amo", "n%") is None
    assert call("filtermatch", m, "n", "zz*") == {"name": "bob", "nick": "b"}


def test_filter_does_not_change_its_input() -> None:
    tags = ["a", "b"]
    m = {"a": 1, "b": 2}
    call("filter", tags, "a")
    call("filter", m, "a")
    call("array.slice", tags, 1)
    assert tags == ["a", "b"]
    assert m == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    ("prefixes", "expected"),
    [
        (("score_",), {"amount": "22"}),
        (("score_", "tag_"), {"amount": "22", "name": "bob"}),
        (("nonfield_",), None),
        (("",), None),
        (("score_amount",), None),  # a key equal to the prefix has no name left
        (("score_", None), {"amount": "22"}),
        ((None,), None),
        ((["tag_"],), {"name": "bob"}),
    ],
)
def test_match(prefixes: tuple[Any, ...], expected: Any) -> None:
    assert call("match", *prefixes, event=EVENT) == expected


def test_match_reads_nested_objects_and_skips_missing_values() -> None:
    event = {
        "user.id": "7",
        "user": {"name": "bob", "age": 3, "gone": None},
        "data": {"ids": {"email": "a@b.c", "phone": "1"}},
        "user_x": None,
    }
    assert call("match", "user.", event=event) == {"id": "7", "name": "bob", "age": 3}
    assert call("match", "data.ids.e", event=event) == {"mail": "a@b.c"}
    assert call("match", "data.", event=event) == {"ids": {"email": "a@b.c", "phone": "1"}}
    assert call("match", "user_", event=event) is None
    assert call("match", "nope.", event=event) is None
    assert call("match", "user.name.", event=event) is None
    assert call("match", "x", event={}) is None


def test_match_on_missing_event_or_empty_event() -> None:
    assert call("match", "score_") is None
    assert call("match", None, event=EVENT) is None


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("map", (A_MAP, 1)),
        ("mapkeys", ("abc",)),
        ("mapkeys", (["a"],)),
        ("mapvalues", ("abc",)),
        ("mapvalues", (5,)),
        ("array.index", (1, 6)),
        ("array.index", (A_MAP, 0)),
        ("array.index", (TAGS, "notint")),
        ("array.slice", (A_MAP, 1, 10)),
        ("array.slice", (TAGS, "hello", 77)),
        ("array.slice", (TAGS, 1, "hello")),
        ("filter", ("apples", A_MAP)),
        ("filtermatch", ("apples", A_MAP)),
    ],
)
def test_runtime_failures_raise(name: str, args: tuple[Any, ...]) -> None:
    """Input of the wrong type is a counted failure (EvalFailure), which `call` makes missing."""
    with pytest.raises(EvalFailure):
        FUNCTIONS[name].impl(*args)
    assert call(name, *args) is None


def test_matcher_cache_is_bounded() -> None:
    from engine.lang.functions import collections

    for i in range(collections._MATCHERS_MAX + 10):
        assert call("filtermatch", f"x{i}", f"x{i}") == f"x{i}"
    assert len(collections._MATCHERS) <= collections._MATCHERS_MAX


@pytest.mark.parametrize(
    ("name", "signature", "safe"),
    [
        ("map", "(key: bool|date|int|list|number|string, value: any) -> map", False),
        ("match", "(prefix: string, *more: string) -> map", True),
        ("mapkeys", "(m: map) -> list", False),
        ("mapvalues", "(m: map) -> list", False),
        ("array.index", "(l: list, i: int) -> any", False),
        ("array.slice", "(l: list, i: int, j?: int) -> list", False),
        (
            "filter",
            "(x: list|map|string, pattern: list|string, *more: list|string) -> any",
            False,
        ),
        (
            "filtermatch",
            "(x: list|map|string, pattern: list|string, *more: list|string) -> any",
            False,
        ),
    ],
)
def test_registration(name: str, signature: str, safe: bool) -> None:
    fn = FUNCTIONS[name]
    assert fn.signature.render() == signature
    assert fn.nulls == "propagate"
    assert fn.safe is safe
    assert fn.group == "lists/maps"
    assert fn.context == ("event" if name == "match" else None)

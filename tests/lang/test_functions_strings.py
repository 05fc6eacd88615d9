"""String functions and regex.match, called through the registry as generated code calls them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import engine.lang.functions  # noqa: F401 -- fills the registry
from engine.lang.registry import FUNCTIONS
from engine.lang.values import EvalFailure
from tests.helpers import call

NAMES = [
    "contains",
    "hasprefix",
    "hassuffix",
    "tolower",
    "string.lowercase",
    "toupper",
    "string.uppercase",
    "string.titlecase",
    "split",
    "string.split",
    "strip",
    "string.strip",
    "replace",
    "join",
    "string.index",
    "string.substr",
    "len",
    "regex.match",
]

DATE = datetime(2014, 10, 13, tzinfo=UTC)  # 1413158400000 ms
A_MAP = {"a": 1}


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        # contains: lql.md §3.2 and qlbridge's tests
        ("contains", ("5tem", 5), True),
        ("contains", ("5item", "item"), True),
        ("contains", ("the-item", "hello"), False),
        ("contains", ("$55", "$"), True),
        ("contains", (None, "x"), False),
        ("contains", (None, None), False),
        ("contains", ("", "x"), False),
        ("contains", ("abc", ""), None),
        ("contains", ("abc", None), None),
        ("contains", (["apple", "banana"], "nan"), True),
        ("contains", (["apple", "banana"], "kiwi"), False),
        ("contains", ([], "x"), False),
        ("contains", ([1, None, 250], "25"), True),
        ("contains", ("a25b", ["25", "x"]), True),
        ("contains", (12345, "234"), True),
        ("contains", (True, "ru"), True),
        ("contains", (DATE, "1413"), True),
        ("contains", (A_MAP, "a"), None),
        # hasprefix
        ("hasprefix", ("apples", "ap"), True),
        ("hasprefix", ("apples", "o"), False),
        ("hasprefix", ("5tem", 5), True),
        ("hasprefix", ("5tem", "5y"), False),
        ("hasprefix", ("", "5y"), False),
        ("hasprefix", (None, "5y"), False),
        ("hasprefix", ("hello", ""), None),
        ("hasprefix", (["xa", "ab"], "a"), True),
        ("hasprefix", (A_MAP, "a"), None),
        # hassuffix
        ("hassuffix", ("apples", "es"), True),
        ("hassuffix", ("apples", "e"), False),
        ("hassuffix", ("tem", "m"), True),
        ("hassuffix", ("", "5y"), False),
        ("hassuffix", (None, "5y"), False),
        ("hassuffix", ("hello", ""), None),
        ("hassuffix", (["ab", "xa"], "a"), True),
        ("hassuffix", (A_MAP, "a"), None),
        # tolower / string.lowercase
        ("tolower", ("Apple",), "apple"),
        ("string.lowercase", ("HELLO",), "hello"),
        ("tolower", ("",), ""),
        ("tolower", (None,), None),
        ("tolower", (["ABC", "DEF"],), "abc"),
        ("tolower", ([],), None),
        ("tolower", (True,), "true"),
        ("tolower", (A_MAP,), None),
        # toupper / string.uppercase (docs/functions.md names toupper)
        ("toupper", ("Apple",), "APPLE"),
        ("string.uppercase", ("Apple Lemmings",), "APPLE LEMMINGS"),
        ("toupper", ("",), ""),
        ("toupper", (None,), None),
        ("toupper", (A_MAP,), None),
        # string.titlecase: Go strings.Title, rest of the word untouched
        ("string.titlecase", ("android nexus",), "Android Nexus"),
        ("string.titlecase", ("android",), "Android"),
        (
            "string.titlecase",
            ("aNDROID x-ray they're snake_case",),
            "ANDROID X-Ray They'Re Snake_case",
        ),
        ("string.titlecase", ("",), ""),
        ("string.titlecase", (None,), None),
        ("string.titlecase", (A_MAP,), None),
        # split / string.split
        ("split", ("a,b", ","), ["a", "b"]),
        ("string.split", ("apples,oranges", ","), ["apples", "oranges"]),
        ("split", ("apples", ","), ["apples"]),
        ("split", ("a,", ","), ["a", ""]),
        ("split", ("", ","), None),
        ("split", ("hello", ""), None),
        ("split", (None, ","), None),
        ("split", ("a,b", None), None),
        ("split", (["x;y", "z"], ";"), ["x", "y"]),
        ("split", (A_MAP, ","), None),
        # strip / string.strip
        ("strip", ("apples ",), "apples"),
        ("string.strip", ("\t a b \r\n",), "a b"),
        ("strip", ([" apples", " oranges "],), ["apples", "oranges"]),
        ("strip", (["apples\n\t", None, 5],), ["apples", "5"]),
        ("strip", ("",), ""),
        ("strip", ([],), []),
        ("strip", (None,), None),
        ("strip", (5,), "5"),
        ("strip", (A_MAP,), None),
        # replace
        ("replace", ("M20:30", "M"), "20:30"),
        ("replace", ("/search/for+stuff", "/search/"), "for+stuff"),
        ("replace", ("M20:30", "M", ""), "20:30"),
        ("replace", ("M20:30", "M", "Hour "), "Hour 20:30"),
        ("replace", ("/blog/index.html", "/blog/archive/", "/blog"), "/blog/index.html"),
        ("replace", ("aXbXc", "X", None), "abc"),
        ("replace", ("abc", ""), "abc"),
        ("replace", ("", "a"), ""),
        ("replace", (None, "M"), None),
        ("replace", ("M20", None), None),
        ("replace", (1020, 0, 9), "1929"),
        ("replace", (A_MAP, "a"), None),
        # join: the last argument is the separator
        ("join", ("apple", "hello", "oranges", "--"), "apple--hello--oranges"),
        ("join", (["apple", "peach"], ","), "apple,peach"),
        ("join", ("apple", "", "peach", ","), "apple,peach"),
        ("join", ("apples", "oranges", ""), "applesoranges"),
        ("join", ("a", None, ["b", "", None, 3], 1.5, "/"), "a/b/3/1.5"),
        ("join", ("apple", ","), "apple"),
        ("join", ("", ","), None),
        ("join", ([], ","), None),
        ("join", (None, None, ","), None),
        ("join", ("a", "b", None), None),
        ("join", ("hello", A_MAP), None),
        ("join", (A_MAP, "--"), None),
        # string.index: character positions
        ("string.index", ("apple", "p"), 1),
        ("string.index", ("apples, oranges ", ","), 6),
        ("string.index", ("apple", "z"), None),
        ("string.index", ("héllo", "l"), 2),
        ("string.index", ("", "z"), None),
        ("string.index", ("apple", ""), None),
        ("string.index", (None, "z"), None),
        ("string.index", (A_MAP, "z"), None),
        # string.substr
        ("string.substr", ("android", 2), "droid"),
        ("string.substr", ("android", 0, 3), "and"),
        ("string.substr", ("apples, oranges ", 0, 3), "app"),
        ("string.substr", ("apple", 3), "le"),
        ("string.substr", ("android", 7), ""),
        ("string.substr", ("héllo", 1, 3), "él"),
        ("string.substr", ("android", "2", "4"), "dr"),
        ("string.substr", ("apple", 30, 500), None),
        ("string.substr", ("android", -1, -2), None),
        ("string.substr", ("android", 0, -2), None),
        ("string.substr", ("android", 15, 10), None),
        ("string.substr", ("android", 0, 20), None),
        ("string.substr", ("android", 5, 2), None),
        ("string.substr", ("", 0), ""),
        ("string.substr", ("", 1), None),
        ("string.substr", (None, 1, 2), None),
        ("string.substr", ("android", None, 2), None),
        ("string.substr", ("android", 0, "hello"), None),
        ("string.substr", (A_MAP, 0), None),
        # len
        ("len", ("abc",), 3),
        ("len", (["5", "6"],), 2),
        ("len", ({"a": 1, "b": 2},), 2),
        ("len", (10,), 0),
        ("len", (10.6,), 0),
        ("len", (True,), 0),
        ("len", (DATE,), 0),
        ("len", ("",), 0),
        ("len", ([],), 0),
        ("len", ("héllo",), 5),
        ("len", (None,), None),
        ("len", (object(),), None),
        # regex.match: unanchored search
        ("regex.match", ("order-1234", "[0-9]{4}$"), True),
        ("regex.match", ("Order", "^order"), False),
        ("regex.match", ("Order", "(?i)^order"), True),
        ("regex.match", ("abc", ""), True),
        ("regex.match", ("", "a"), False),
        ("regex.match", ("", "^$"), True),
        ("regex.match", (["x", "a1"], r"^a\d$"), True),
        ("regex.match", (["x", "y"], "a"), False),
        ("regex.match", ([], "a"), False),
        ("regex.match", ("١٢٣", r"\d"), False),  # RE2-like: \d is ASCII only
        ("regex.match", (12345, "^1.*5$"), True),
        ("regex.match", (None, "a"), None),
        ("regex.match", ("abc", None), None),
        ("regex.match", ("abc", "(unclosed"), None),
        ("regex.match", (A_MAP, "a"), None),
    ],
)
def test_call(name: str, args: tuple[Any, ...], expected: Any) -> None:
    got = call(name, *args)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("contains", (A_MAP, "a")),
        ("contains", ("abc", A_MAP)),
        ("hasprefix", (A_MAP, "a")),
        ("hassuffix", (A_MAP, "a")),
        ("tolower", (A_MAP,)),
        ("toupper", (A_MAP,)),
        ("string.titlecase", (A_MAP,)),
        ("split", (A_MAP, ",")),
        ("strip", (A_MAP,)),
        ("replace", (A_MAP, "a")),
        ("join", ("hello", A_MAP)),
        ("join", (A_MAP, "--")),
        ("string.index", (A_MAP, "z")),
        ("string.substr", (A_MAP, 0)),
        ("string.substr", ("android", 0, "hello")),
        ("string.substr", ("android", "x")),
        ("regex.match", ("abc", "(unclosed")),
        ("regex.match", ("abc", "a{2,1}")),
        ("regex.match", (A_MAP, "a")),
    ],
)
def test_runtime_failures_raise(name: str, args: tuple[Any, ...]) -> None:
    """Unusable input is a counted failure (EvalFailure), which `call` turns into missing."""
    with pytest.raises(EvalFailure):
        FUNCTIONS[name].impl(*args)
    assert call(name, *args) is None


def test_bad_regex_is_a_failure_every_time() -> None:
    for _ in range(2):  # the second time comes from the cache
        with pytest.raises(EvalFailure, match="bad pattern"):
            FUNCTIONS["regex.match"].impl("abc", "[")


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("string.lowercase", "tolower"),
        ("string.uppercase", "toupper"),
        ("string.split", "split"),
        ("string.strip", "strip"),
    ],
)
def test_aliases_share_one_entry(alias: str, name: str) -> None:
    assert FUNCTIONS[alias] is FUNCTIONS[name]


@pytest.mark.parametrize(
    ("name", "signature", "nulls", "safe"),
    [
        ("contains", "(s: list|string, sub: string) -> bool", "handle", False),
        ("hasprefix", "(s: list|string, prefix: string) -> bool", "handle", False),
        ("hassuffix", "(s: list|string, suffix: string) -> bool", "handle", False),
        ("tolower", "(s: string) -> string", "propagate", False),
        ("toupper", "(s: string) -> string", "propagate", False),
        ("string.titlecase", "(s: string) -> string", "propagate", False),
        ("split", "(s: string, sep: string) -> list", "propagate", False),
        ("strip", "(x: list|string) -> any", "propagate", False),
        ("replace", "(s: string, old: string, new?: string) -> string", "propagate", False),
        ("string.index", "(s: string, sub: string) -> int", "propagate", False),
        ("string.substr", "(s: string, start: int, end?: int) -> string", "propagate", False),
        ("len", "(x: any) -> int", "propagate", True),
        ("regex.match", "(s: list|string, pattern: string) -> bool", "propagate", False),
    ],
)
def test_registration(name: str, signature: str, nulls: str, safe: bool) -> None:
    fn = FUNCTIONS[name]
    assert fn.signature.render() == signature
    assert fn.nulls == nulls
    assert fn.safe is safe
    assert fn.group == ("extras" if name == "regex.match" else "strings")


def test_join_signature_needs_two_arguments() -> None:
    sig = FUNCTIONS["join"].signature
    assert sig.min_args == 2
    assert sig.max_args is None
    assert FUNCTIONS["join"].nulls == "handle"

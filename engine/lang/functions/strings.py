"""String functions (qlbridge ``string.go``) and ``regex.match``.

Conventions shared by every function here:

- A string parameter accepts any scalar (numbers, bools and dates are read with `to_str`) and a
  list stands for its first item; a map is a run-time type failure (`EvalFailure`).
- Positions and lengths count characters (code points), not UTF-8 bytes, so `string.index` and
  `string.substr` agree and never split a character.
- `contains`, `hasprefix`, `hassuffix` and `regex.match` test every item of a list argument.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from engine.lang import budget, regex
from engine.lang.budget import LARGE
from engine.lang.registry import function
from engine.lang.values import EvalFailure, Value, to_int, to_list, to_str, type_name

GROUP = "strings"

_WHITESPACE = " \t\n\r"
# The longest text `replace` makes: nested replaces multiply a text's length, so a few of them
# over one event could otherwise ask for more memory than the machine has, in one step.
MAX_REPLACED_CHARS = 16 * 1024 * 1024


def _text(v: Value, fn: str) -> str | None:
    """`v` read as a string: a list gives its first item, missing gives None, a map fails."""
    if isinstance(v, str):
        if len(v) > LARGE:  # a clock reading only where the work is worth one
            budget.check()
        return v
    s = to_str(v)
    if s is None and isinstance(v, dict):
        raise EvalFailure(f"{fn}: expected a string, got {type_name(v)}")
    return s


def _int_arg(v: Value, fn: str) -> int:
    """An integer argument (a position); unreadable input is a run-time failure."""
    if v.__class__ is int:
        return v
    n = to_int(v)
    if n is None:
        raise EvalFailure(f"{fn}: expected an int, got {type_name(v)} {v!r:.40}")
    return n


def _any_item(items: list[Value], test: Callable[[str], bool]) -> bool:
    for item in budget.paced(items, len(items)):
        t = item if isinstance(item, str) else to_str(item)
        if t is not None and test(t):
            return True
    return False


def _string_test(s: Value, needle: Value, fn: str, test: Callable[[str, str], bool]) -> bool | None:
    """Shared body of contains/hasprefix/hassuffix after their fast paths."""
    if s is None:
        return False
    sub = needle if isinstance(needle, str) else _text(needle, fn)
    if not sub:
        return None
    if isinstance(s, str):
        if len(s) > LARGE:  # a clock reading only where the work is worth one
            budget.check()
        return test(s, sub)
    if isinstance(s, list):
        return _any_item(s, lambda t: test(t, sub))
    t = _text(s, fn)
    return t is not None and test(t, sub)


def _contains(s: str, sub: str) -> bool:
    return sub in s


@function(
    "contains",
    "(s: string|list, sub: string) -> bool",
    doc="Whether `s` contains `sub` (any item, for a list); missing `s` is false, empty `sub` "
    "is missing.",
    group=GROUP,
    nulls="handle",
    examples=[
        ('contains("5tem", 5)', "true"),
        ('contains(["apple", "banana"], "nan")', "true"),
        ('contains(null, "x")', "false"),
    ],
)
def contains(s: Value, sub: Value) -> bool | None:
    if isinstance(s, str) and isinstance(sub, str) and sub:
        return sub in s
    return _string_test(s, sub, "contains", _contains)


@function(
    "hasprefix",
    "(s: string|list, prefix: string) -> bool",
    doc="Whether `s` starts with `prefix` (any item, for a list); missing `s` is false, empty "
    "`prefix` is missing.",
    group=GROUP,
    nulls="handle",
    examples=[('hasprefix("apples", "ap")', "true"), ('hasprefix("apples", "o")', "false")],
)
def hasprefix(s: Value, prefix: Value) -> bool | None:
    if isinstance(s, str) and isinstance(prefix, str) and prefix:
        return s.startswith(prefix)
    return _string_test(s, prefix, "hasprefix", str.startswith)


@function(
    "hassuffix",
    "(s: string|list, suffix: string) -> bool",
    doc="Whether `s` ends with `suffix` (any item, for a list); missing `s` is false, empty "
    "`suffix` is missing.",
    group=GROUP,
    nulls="handle",
    examples=[('hassuffix("apples", "es")', "true"), ('hassuffix("apples", "e")', "false")],
)
def hassuffix(s: Value, suffix: Value) -> bool | None:
    if isinstance(s, str) and isinstance(suffix, str) and suffix:
        return s.endswith(suffix)
    return _string_test(s, suffix, "hassuffix", str.endswith)


@function(
    "tolower",
    "(s: string) -> string",
    doc="Lower-cased `s`.",
    group=GROUP,
    aliases=["string.lowercase"],
    examples=[('tolower("Apple")', '"apple"'), ('string.lowercase("HELLO")', '"hello"')],
)
def tolower(s: Value) -> str | None:
    if isinstance(s, str):
        return s.lower()
    t = _text(s, "tolower")
    return None if t is None else t.lower()


@function(
    "toupper",
    "(s: string) -> string",
    doc="Upper-cased `s`.",
    group=GROUP,
    aliases=["string.uppercase"],
    examples=[
        ('toupper("Apple")', '"APPLE"'),
        ('string.uppercase("Apple Lemmings")', '"APPLE LEMMINGS"'),
    ],
)
def toupper(s: Value) -> str | None:
    if isinstance(s, str):
        return s.upper()
    t = _text(s, "toupper")
    return None if t is None else t.upper()


# A word starts at a word character not preceded by one (Go's strings.Title: the rest of the
# word is left as it is, unlike Python's str.title()).
_WORD_START = re.compile(r"(?<!\w)\w")


def _upper_match(m: re.Match[str]) -> str:
    return m.group().upper()


@function(
    "string.titlecase",
    "(s: string) -> string",
    doc="`s` with the first letter of each word upper-cased (the rest is kept as it is).",
    group=GROUP,
    examples=[('string.titlecase("android nexus")', '"Android Nexus"')],
)
def titlecase(s: Value) -> str | None:
    t = s if isinstance(s, str) else _text(s, "string.titlecase")
    if t is None:
        return None
    if len(t) <= LARGE:
        return _WORD_START.sub(_upper_match, t)
    parts: list[str] = []  # a callback per word: long text is done word by word, within the budget
    last = 0
    for m in budget.paced(_WORD_START.finditer(t), len(t)):
        parts += (t[last:m.start()], m.group().upper())
        last = m.end()
    parts.append(t[last:])
    return "".join(parts)


@function(
    "split",
    "(s: string, sep: string) -> list",
    doc="`s` split on every `sep`; an empty `s` or `sep` is missing.",
    group=GROUP,
    aliases=["string.split"],
    examples=[
        ('split("a,b", ",")', '["a", "b"]'),
        ('split("apples,oranges", ",")', '["apples", "oranges"]'),
    ],
)
def split(s: Value, sep: Value) -> list[str] | None:
    t = s if isinstance(s, str) else _text(s, "split")
    by = sep if isinstance(sep, str) else _text(sep, "split")
    if not t or not by:
        return None
    if len(t) > LARGE:  # a clock reading only where the work is worth one
        budget.check()
    return t.split(by)


@function(
    "strip",
    "(x: string|list) -> any",
    doc="`x` without leading and trailing spaces, tabs and newlines; a list strips each item.",
    group=GROUP,
    aliases=["string.strip"],
    examples=[('strip("apples ")', '"apples"'), ('strip(split(" a, b ", ","))', '["a", "b"]')],
)
def strip(x: Value) -> str | list[str] | None:
    if isinstance(x, str):
        return x.strip(_WHITESPACE)
    if isinstance(x, list):
        if len(x) > LARGE:  # a clock reading only where the work is worth one
            budget.check()
        return [t.strip(_WHITESPACE) for t in to_list(x) or ()]
    t = _text(x, "strip")
    return None if t is None else t.strip(_WHITESPACE)


@function(
    "replace",
    "(s: string, old: string, new?: string) -> string",
    doc="`s` with every `old` replaced by `new` (default: removed); an empty `old` changes "
    "nothing; a result over 16 Mi characters is a failure.",
    group=GROUP,
    examples=[
        ('replace("M20:30", "M")', '"20:30"'),
        ('replace("M20:30", "M", "Hour ")', '"Hour 20:30"'),
        ('replace("/blog/index.html", "/blog")', '"/index.html"'),
    ],
)
def replace(s: Value, old: Value, new: Value = None) -> str | None:
    t = s if isinstance(s, str) else _text(s, "replace")
    o = old if isinstance(old, str) else _text(old, "replace")
    if t is None or o is None:
        return None
    if not o:
        return t
    if len(t) > LARGE:  # a clock reading only where the work is worth one
        budget.check()
    n = (new if isinstance(new, str) else _text(new, "replace")) or ""
    if len(n) > len(o) and len(t) + t.count(o) * (len(n) - len(o)) > MAX_REPLACED_CHARS:
        raise EvalFailure(f"replace: the result would be over {MAX_REPLACED_CHARS:,} characters")
    return t.replace(o, n)


_JOINABLE = "string|int|number|bool|date|list"


@function(
    "join",
    f"(a: {_JOINABLE}, b: {_JOINABLE}, *more: {_JOINABLE}) -> string",
    doc="Join the arguments with the last one as separator; lists are flattened, missing and "
    "empty items skipped; nothing left is missing.",
    group=GROUP,
    nulls="handle",
    examples=[
        ('join("apple", "", "peach", ",")', '"apple,peach"'),
        ('join(["apple", "peach"], "--")', '"apple--peach"'),
        ('join("apples", "oranges", "")', '"applesoranges"'),
    ],
)
def join(*args: Value) -> str | None:
    sep = args[-1]
    if not isinstance(sep, str):
        sep = _text(sep, "join")
        if sep is None:
            return None
    parts: list[str] = []
    for a in args[:-1]:
        if isinstance(a, str):
            if a:
                parts.append(a)
        elif isinstance(a, list):
            for item in budget.paced(a, len(a)):
                t = item if isinstance(item, str) else to_str(item)
                if t:
                    parts.append(t)
        elif a is not None:
            t = _text(a, "join")
            if t:
                parts.append(t)
    if not parts:
        return None
    return sep.join(parts)


@function(
    "string.index",
    "(s: string, sub: string) -> int",
    doc="Position (in characters, from 0) of the first `sub` in `s`; not found is missing.",
    group=GROUP,
    examples=[
        ('string.index("apple", "p")', "1"),
        ('string.index("apples, oranges ", ",")', "6"),
        ('string.index("apple", "z")', "null"),
    ],
)
def string_index(s: Value, sub: Value) -> int | None:
    t = s if isinstance(s, str) else _text(s, "string.index")
    u = sub if isinstance(sub, str) else _text(sub, "string.index")
    if not t or not u:
        return None
    i = t.find(u)
    return i if i >= 0 else None


@function(
    "string.substr",
    "(s: string, start: int, end?: int) -> string",
    doc="Characters `start` up to (not including) `end` of `s`, or to its end; a negative or "
    "out-of-range bound is missing.",
    group=GROUP,
    examples=[
        ('string.substr("android", 2)', '"droid"'),
        ('string.substr("android", 0, 3)', '"and"'),
        ('string.substr("android", 0, 20)', "null"),
    ],
)
def string_substr(s: Value, start: Value, end: Value = None) -> str | None:
    t = s if isinstance(s, str) else _text(s, "string.substr")
    if t is None:
        return None
    i = _int_arg(start, "string.substr")
    n = len(t)
    if i < 0 or i > n:
        return None
    if end is None:
        return t[i:]
    j = _int_arg(end, "string.substr")
    if j < i or j > n:
        return None
    return t[i:j]


_SIZED = (str, list, dict)  # tuples: isinstance with a `X | Y` union is ~3x slower
_SIZELESS = (int, float, datetime)


@function(
    "len",
    "(x: any) -> int",
    doc="Characters in a string, items in a list or map; 0 for a number, bool or date.",
    group=GROUP,
    aliases=["char_length"],
    safe=True,
    examples=[('len("abc")', "3"), ('len(["5", "6"])', "2"), ("len(10)", "0")],
)
def length(x: Value) -> int | None:
    if isinstance(x, _SIZED):
        return len(x)
    if isinstance(x, _SIZELESS):
        return 0
    return None


# --- regex.match --------------------------------------------------------------------------------

def _regex(pattern: str) -> Any:
    rx = regex.compiled(pattern)
    if rx is None:
        raise EvalFailure(f"regex.match: bad pattern {pattern!r}: {regex.problem(pattern)}")
    return rx


@function(
    "regex.match",
    "(s: string|list, pattern: string) -> bool",
    doc="Whether `pattern` (a regular expression in RE2 syntax) matches anywhere in `s` (any "
    "item, for a list); a bad pattern is a failure.",
    group="extras",
    check_constant=regex.pattern_arguments,
    examples=[
        ('regex.match("order-1234", "[0-9]{4}$")', "true"),
        ('regex.match("Order", "^order")', "false"),
        ('regex.match("Order", "(?i)^order")', "true"),
    ],
)
def regex_match(s: Value, pattern: Value) -> bool | None:
    p = pattern if isinstance(pattern, str) else _text(pattern, "regex.match")
    if p is None:
        return None
    rx = _regex(p)
    if isinstance(s, str):
        if len(s) > LARGE:  # a clock reading only where the work is worth one
            budget.check()
        return regex.search(rx, s)
    if isinstance(s, list):
        return _any_item(s, lambda t: regex.search(rx, t))
    t = _text(s, "regex.match")
    return t is not None and regex.search(rx, t)

"""List and map functions (qlbridge ``list_map.go`` and ``filter.go``).

Lists keep their items as they came (``array.index`` returns an item untouched); functions that
build lists of their own (``mapkeys``, ``mapvalues``, ``filter`` of a list) give strings. A
string where a list is wanted is a one-item list; a value of another type where a list or map is
wanted is a run-time failure. Results that would be empty are missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.lang import budget
from engine.lang.glob import glob_matcher
from engine.lang.registry import function
from engine.lang.values import EvalFailure, Value, is_empty, map_key, to_int, to_str, type_name

GROUP = "lists/maps"

_SCALAR_OR_LIST = "string|int|number|bool|date|list"


def _wrong_type(fn: str, v: Value, wanted: str) -> EvalFailure:
    return EvalFailure(f"{fn}: expected {wanted}, got {type_name(v)}")


def _int_arg(v: Value, fn: str) -> int:
    if v.__class__ is int:
        return v
    n = to_int(v)
    if n is None:
        raise EvalFailure(f"{fn}: expected an int, got {type_name(v)} {v!r:.40}")
    return n


def _seq(v: Value, fn: str) -> list[Any] | None:
    """A list argument: a list as it is, a non-empty string as a one-item list."""
    if isinstance(v, list):
        return v
    if isinstance(v, str):
        return [v] if v else None
    raise _wrong_type(fn, v, "a list")


@function(
    "map",
    f"(key: {_SCALAR_OR_LIST}, value: any) -> map",
    doc="A one-entry map `{key: value}` (the key as a string); an empty key or value is missing.",
    group=GROUP,
    examples=[('map("hello", 22)', '{"hello": 22}'), ('map("", 6)', "null")],
)
def make_map(key: Value, value: Value) -> dict[str, Any] | None:
    k = key if isinstance(key, str) else map_key(key)
    if not k:
        if isinstance(key, dict):
            raise _wrong_type("map", key, "a scalar key")
        return None
    if is_empty(value):
        return None
    return {k: value}


def _walk(event: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The nested object at dotted `path` of the event, if there is one."""
    node: Any = event
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node if isinstance(node, dict) else None


@function(
    "match",
    "(prefix: string, *more: string) -> map",
    doc='The event\'s fields whose key starts with a prefix, keyed without it (`match("user.")` '
    "also reads a nested `user` object); none is missing.",
    group=GROUP,
    context="event",
    safe=True,
    examples=[
        ('match("score_")', '{"amount": "22"}'),
        ('match("score_", "tag_")', '{"amount": "22", "name": "bob"}'),
        ('match("nonfield_")', "null"),
    ],
)
def match(event: dict[str, Any], *prefixes: Value) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for p in prefixes:
        prefix = p if isinstance(p, str) else to_str(p)
        if not prefix:
            continue
        cut = len(prefix)
        for key, val in budget.paced(event.items(), len(event)):
            if val is not None and len(key) > cut and key.startswith(prefix):
                out[key[cut:]] = val
        if "." in prefix:
            head, _, rest = prefix.rpartition(".")
            nested = _walk(event, head)
            if nested:
                cut = len(rest)
                for key, val in nested.items():
                    if val is not None and len(key) > cut and key.startswith(rest):
                        out[key[cut:]] = val
    return out or None


@function(
    "mapkeys",
    "(m: map) -> list",
    doc="The keys of map `m`; an empty map is missing.",
    group=GROUP,
    examples=[('mapkeys(match("score_", "tag_"))', '["amount", "name"]')],
)
def mapkeys(m: Value) -> list[str] | None:
    if isinstance(m, dict):
        return list(m) or None
    raise _wrong_type("mapkeys", m, "a map")


@function(
    "mapvalues",
    "(m: map) -> list",
    doc="The distinct values of map `m` as strings (missing and empty values left out); none is "
    "missing.",
    group=GROUP,
    examples=[('mapvalues(match("score_", "tag_"))', '["22", "bob"]')],
)
def mapvalues(m: Value) -> list[str] | None:
    if not isinstance(m, dict):
        raise _wrong_type("mapvalues", m, "a map")
    values: dict[str, None] = {}
    for v in budget.paced(m.values(), len(m)):
        t = v if isinstance(v, str) else to_str(v)
        if t:
            values[t] = None
    return list(values) or None


@function(
    "array.index",
    "(l: list, i: int) -> any",
    doc="Item `i` of list `l` (from 0; negative counts from the end); out of range is missing.",
    group=GROUP,
    examples=[
        ('array.index(["a", "b", "c", "d"], 1)', '"b"'),
        ('array.index(["a", "b", "c", "d"], -1)', '"d"'),
        ('array.index(["a", "b", "c", "d"], 6)', "null"),
    ],
)
def array_index(seq: Value, i: Value) -> Value:
    items = _seq(seq, "array.index")
    if items is None:
        return None
    n = _int_arg(i, "array.index")
    if -len(items) <= n < len(items):
        return items[n]
    return None


@function(
    "array.slice",
    "(l: list, i: int, j?: int) -> list",
    doc="Items `i` up to (not including) `j` of list `l`, or to its end; negative bounds count "
    "from the end; a bound out of range is missing.",
    group=GROUP,
    examples=[
        ('array.slice(["a", "b", "c", "d"], 1, 3)', '["b", "c"]'),
        ('array.slice(["a", "b", "c", "d"], -2)', '["c", "d"]'),
        ('array.slice(["a", "b", "c", "d"], 1, 7)', "null"),
    ],
)
def array_slice(seq: Value, i: Value, j: Value = None) -> list[Any] | None:
    items = _seq(seq, "array.slice")
    if items is None:
        return None
    size = len(items)
    start = _int_arg(i, "array.slice")
    if start < 0:
        start += size
    if not 0 <= start < size:
        return None
    if j is None:
        return items[start:]
    end = _int_arg(j, "array.slice")
    if end < 0:
        end += size
    if end < start or end > size:
        return None
    return items[start:end]


# --- filter / filtermatch -----------------------------------------------------------------------

_Matcher = Callable[[str], bool]
_MATCHERS: dict[tuple[str, ...], _Matcher] = {}
_MATCHERS_MAX = 1024


def _build_matcher(patterns: tuple[str, ...]) -> _Matcher:
    """One test for a set of patterns: with `*` (or `%`) an anchored glob, else a prefix; the
    empty pattern matches only the empty string."""
    prefixes: list[str] = []
    globs: list[_Matcher] = []
    empty = False
    for p in patterns:
        if not p:
            empty = True
        elif "*" in p or "%" in p:
            globs.append(glob_matcher(p))
        else:
            prefixes.append(p)
    starts = tuple(prefixes)
    empty = empty or any(g("") for g in globs)

    def test(s: str) -> bool:
        if not s:
            return empty
        if starts and s.startswith(starts):
            return True
        return any(g(s) for g in globs)

    return test


def _matcher(args: tuple[Value, ...], fn: str) -> _Matcher:
    patterns: list[str] = []
    for a in args:
        if isinstance(a, str):
            patterns.append(a)
        elif isinstance(a, list):
            patterns.extend(t for t in map(to_str, a) if t is not None)
        elif a is not None:
            t = to_str(a)
            if t is None:
                raise _wrong_type(fn, a, "a pattern string or list")
            patterns.append(t)
    key = tuple(patterns)
    test = _MATCHERS.get(key)
    if test is None:
        test = _build_matcher(key)
        if len(_MATCHERS) >= _MATCHERS_MAX:
            _MATCHERS.clear()
        _MATCHERS[key] = test
    return test


def _select(x: Value, patterns: tuple[Value, ...], keep: bool, fn: str) -> Value:
    """Keep (`keep=True`) or drop the list items / map keys / string that match a pattern."""
    test = _matcher(patterns, fn)
    if isinstance(x, list):
        items = [t for t in (v if isinstance(v, str) else to_str(v)
                             for v in budget.paced(x, len(x))) if t is not None]
        kept = [t for t in items if test(t) is keep]
        return kept or None
    if isinstance(x, dict):
        picked = {k: v for k, v in budget.paced(x.items(), len(x)) if test(k) is keep}
        return picked or None
    s = x if isinstance(x, str) else to_str(x)
    if not s:
        return None
    return s if test(s) is keep else None


_FILTER_SIGNATURE = "(x: string|list|map, pattern: string|list, *more: string|list) -> any"


@function(
    "filter",
    _FILTER_SIGNATURE,
    doc="`x` without the list items / map keys matching a pattern (`*` or `%` glob, else "
    "prefix); a matching string, or nothing left, is missing.",
    group=GROUP,
    examples=[
        ('filter(split("apples,oranges", ","), "ora*")', '["apples"]'),
        ('filter(split("apples,oranges", ","), ["ora%", "ban*"])', '["apples"]'),
        ('filter("apples", "app")', "null"),
    ],
)
def filter_out(x: Value, *patterns: Value) -> Value:
    return _select(x, patterns, False, "filter")


@function(
    "filtermatch",
    _FILTER_SIGNATURE,
    doc="Only the list items / map keys of `x` matching a pattern (`*` or `%` glob, else "
    "prefix); a string that does not match, or nothing left, is missing.",
    group=GROUP,
    examples=[
        ('filtermatch(split("apples,oranges", ","), "app*")', '["apples"]'),
        ('filtermatch(match("score_", "tag_"), "amo")', '{"amount": "22"}'),
        ('filtermatch("apples", "bam*")', "null"),
    ],
)
def filter_match(x: Value, *patterns: Value) -> Value:
    return _select(x, patterns, True, "filtermatch")

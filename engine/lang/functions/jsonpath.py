"""JSON held in a field as text: decoded (`json.decode`) or queried with JMESPath
(`json.jmespath`, qlbridge ``json.go``).

A field may hold JSON as text (a form post, a stringified payload such as Customer.io's
subscription preferences) or, since events are JSON, already as an object or a list;
`json.jmespath` reads either. A query is compiled once per distinct text and kept, so a
constant query costs nothing per event.
"""

from __future__ import annotations

import functools
from typing import Any

import jmespath
import orjson
from jmespath.exceptions import JMESPathError

from engine.lang import budget
from engine.lang.budget import LARGE
from engine.lang.registry import function
from engine.lang.values import EvalFailure, Value, type_name


@functools.lru_cache(maxsize=256)
def _compiled(query: str) -> Any:
    try:
        return jmespath.compile(query)
    except JMESPathError as exc:
        raise EvalFailure(f"json.jmespath: bad query {query!r:.60}: {exc}") from exc


def _query_constant(index: int, value: Any) -> str | None:
    """An empty query is refused when the config loads (qlbridge refuses it when parsing)."""
    if index == 1 and (not isinstance(value, str) or not value.strip()):
        return "the query must be a non-empty string"
    return None


def _document(doc: Value) -> Any:
    if isinstance(doc, dict | list):
        return doc
    if not isinstance(doc, str):
        raise EvalFailure(f"json.jmespath: expected JSON text, got {type_name(doc)}")
    if len(doc) > LARGE:
        budget.check()
    try:
        return orjson.loads(doc)
    except orjson.JSONDecodeError as exc:
        raise EvalFailure(f"json.jmespath: not JSON: {exc}") from exc


@function(
    "json.decode",
    "(s: string) -> any",
    doc="The value of the JSON text `s` (an object, a list, a string, a number or a bool); "
    'text that is not JSON, JSON null and "" are missing.',
    group="extras",
    examples=[
        ('json.decode(\'{"topics":{"topic_1":true}}\')', '{"topics": {"topic_1": true}}'),
        ("json.decode('[1, 2]')", "[1, 2]"),
        ('json.decode("not json")', "null"),
    ],
)
def json_decode(s: Value) -> Value:
    if not isinstance(s, str):
        raise EvalFailure(f"json.decode: expected JSON text, got {type_name(s)}")
    if len(s) > LARGE:
        budget.check()
    try:
        found = orjson.loads(s)
    except orjson.JSONDecodeError:
        return None  # not JSON: missing, like any value that is not there
    return None if found == "" else found


@function(
    "json.jmespath",
    "(json: string|map|list, query: string) -> any",
    doc="The JMESPath `query` applied to `json` (JSON text, or an object or list); no match "
    "is missing, text that is not JSON or a bad query a failure.",
    group="extras",
    check_constant=_query_constant,
    examples=[
        ('json.jmespath(\'{"name":"bob", "city":"portland"}\', "name")', '"bob"'),
        ('json.jmespath(\'[{"n":"a","ct":8},{"n":"b","ct":10}]\', "[?ct > `9`].n | [0]")', '"b"'),
    ],
)
def json_jmespath(doc: Value, query: Value) -> Value:
    if not isinstance(query, str) or not query.strip():
        raise EvalFailure("json.jmespath: the query must be a non-empty string")
    if doc == "":
        return None
    found = _compiled(query).search(_document(doc))
    if found is None or found == [] or found == {}:
        return None
    return found

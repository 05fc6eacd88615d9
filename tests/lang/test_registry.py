"""The registry is the single source: docs are generated from it and its examples hold."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

import engine
from engine.lang import docs
from engine.lang.functions import FUNCTIONS
from engine.lang.registry import EXAMPLE_EVENT, EXAMPLE_TIME_MS
from engine.lang.values import ms_to_date
from engine.output import to_json

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2014, 4, 7, 16, 58, 55, tzinfo=UTC)
assert ms_to_date(EXAMPLE_TIME_MS) == AT

REQUIRED = [
    "eq",
    "ne",
    "gt",
    "ge",
    "lt",
    "le",
    "not",
    "exists",
    "any",
    "all",
    "oneof",
    "contains",
    "hasprefix",
    "hassuffix",
    "tolower",
    "toupper",
    "string.lowercase",
    "string.uppercase",
    "string.titlecase",
    "split",
    "strip",
    "replace",
    "join",
    "string.index",
    "string.substr",
    "len",
    "toint",
    "tonumber",
    "tobool",
    "tostring",
    "unsign",
    "map",
    "match",
    "mapkeys",
    "mapvalues",
    "array.index",
    "array.slice",
    "filter",
    "filtermatch",
    "email",
    "emailname",
    "emaildomain",
    "host",
    "domain",
    "path",
    "qs",
    "qs2",
    "urldecode",
    "urlmain",
    "urlminusqs",
    "url.matchqs",
    "hash",
    "hash.sip",
    "hash.md5",
    "hash.sha1",
    "hash.sha256",
    "hash.sha512",
    "encoding.b64encode",
    "encoding.b64decode",
    "now",
    "epochms",
    "todate",
    "todatein",
    "totimestamp",
    "yy",
    "mm",
    "yymm",
    "dayofweek",
    "hourofday",
    "hourofweek",
    "seconds",
    "extract",
    "regex.match",
    "phone.e164",
    "count",
    "sum",
    "min",
    "max",
    "set",
    "valuect",
]

EXAMPLES = [
    (fn.name, e, r)
    for fn in {f.name: f for f in FUNCTIONS.values()}.values()
    for e, r in fn.examples
]


def test_every_required_function_is_registered() -> None:
    missing = [name for name in REQUIRED if name not in FUNCTIONS]
    assert missing == []


def test_aggregates_are_flagged() -> None:
    flagged = sorted(f.name for f in FUNCTIONS.values() if f.aggregate)
    assert flagged == ["count", "max", "min", "set", "sum", "valuect"]


def test_every_function_has_doc_and_example() -> None:
    for fn in FUNCTIONS.values():
        assert fn.doc.strip(), fn.name
        assert fn.examples, fn.name


def test_functions_md_is_current() -> None:
    committed = (ROOT / "docs" / "functions.md").read_text(encoding="utf-8")
    assert committed == docs.render(), "run `make docs` and commit docs/functions.md"


@pytest.mark.parametrize(
    ("name", "expr", "result"), EXAMPLES, ids=[f"{n}:{e}" for n, e, _ in EXAMPLES]
)
def test_documented_example_holds(name: str, expr: str, result: str) -> None:
    value = engine.compile_expression(expr).evaluate(dict(EXAMPLE_EVENT), event_time=AT)
    assert orjson.loads(to_json(value)) == orjson.loads(result)

"""`json.jmespath`, with the rows of qlbridge's builtins test table."""

from __future__ import annotations

from typing import Any

import pytest

import engine.lang.functions  # noqa: F401 -- fills the registry
from engine.errors import ConfigError
from engine.lang.compiler import compile_expression
from tests.helpers import assert_documented, call, evaluate
from tests.lang.qlbridge_rows import EVENT, TS


def test_registered() -> None:
    assert_documented("json.jmespath", "(json: list|map|string, query: string) -> any")


# qlbridge builtins_test.go, "JsonPath".
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("""json.jmespath(json_field, "[?name == 'n1'].name | [0]")""", "n1"),
        ('json.jmespath(json_field, "[?b].ct | [0]")', 8),
        ('json.jmespath(json_field, "[?b].b | [0]")', True),
        ('json.jmespath(json_field, "[?b].tags | [0]")', ["a", "b"]),
        ('json.jmespath(not_field, "[?b].tags | [0]")', None),
        ('json.jmespath(json_field, "[?b].tags | [0 ")', None),
        ('json.jmespath(json_bad, "[?b].tags | [0 ")', None),
        ('json.jmespath(json_object, "name")', "bob"),
    ],
)
def test_qlbridge_rows(text: str, expected: Any) -> None:
    assert evaluate(text, EVENT, at=TS) == expected


@pytest.mark.parametrize(
    "text",
    [
        'json.jmespath(json_bad, "")',  # qlbridge's validation rows
        "json.jmespath(json_field, 1)",
    ],
)
def test_refused_when_the_config_loads(text: str) -> None:
    with pytest.raises(ConfigError, match=r"query|string"):
        compile_expression(text)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (({"a": {"b": [1, 2]}}, "a.b[1]"), 2),  # an object already decoded
        (([{"x": 1}, {"x": 2}], "[*].x"), [1, 2]),
        (('{"a": 1}', "b"), None),
        (('{"a": []}', "a"), None),
        (("", "a"), None),
        ((5, "a"), None),
        (('{"a": 1}', "   "), None),
    ],
)
def test_edges(args: tuple[Any, ...], expected: Any) -> None:
    assert call("json.jmespath", *args) == expected


def test_json_decode_registered() -> None:
    assert_documented("json.decode", "(s: string) -> any")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"topics": {"topic_1": true, "topic_2": false}}',
            {"topics": {"topic_1": True, "topic_2": False}},
        ),
        ("[1, 2]", [1, 2]),
        ('"x"', "x"),
        ("3.5", 3.5),
        ("true", True),
        ("null", None),
        ('""', None),
        ("", None),
        ("{not json", None),
        (5, None),  # not text: a failure, which is missing
    ],
)
def test_json_decode(text: Any, expected: Any) -> None:
    assert call("json.decode", text) == expected


def test_json_decode_feeds_a_query() -> None:
    event = {"content": '{"topics":{"topic_1":true}}'}
    assert evaluate('json.jmespath(json.decode(content), "topics")', event) == {"topic_1": True}

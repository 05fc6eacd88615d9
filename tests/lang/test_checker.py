"""The checker reports every problem, each at its span, in the documented format."""

from __future__ import annotations

import pytest

import engine
from engine.errors import ConfigError, Diagnostic


def diagnostics(expr: str, **kw: object) -> list[Diagnostic]:
    with pytest.raises(ConfigError) as info:
        engine.compile_expression(expr, **kw)  # type: ignore[arg-type]
    return info.value.diagnostics


def test_reports_all_errors_with_carets() -> None:
    text = 'eq(object_type, "email") AND epochs() > 5 AND toint("1", "2", "3")'
    found = diagnostics(text)
    assert [d.code for d in found] == ["E101", "E102"]
    unknown, arity = found
    assert unknown.message == "unknown function `epochs`"
    assert unknown.hint == "did you mean `epochms`?"
    assert (unknown.line, unknown.column, unknown.end_column) == (1, 30, 36)
    assert "`toint` takes exactly 1 argument, got 3" in arity.message
    assert unknown.render().splitlines() == [
        "<expr>:1:30: error[E101]: unknown function `epochs`; did you mean `epochms`?",
        f"1 | {text}",
        "  | " + " " * 29 + "^^^^^^",
    ]


def test_unknown_function_without_close_match_has_no_hint() -> None:
    (d,) = diagnostics("zzzzqqq(1)")
    assert d.code == "E101" and d.hint is None


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ('string.substr("android", "x")', "argument `start` of `string.substr` must be int"),
        ('hash.md5(x, "y")', "`hash.md5` takes exactly 1 argument, got 2"),
        ("urlmain()", "`urlmain` takes exactly 1 argument, got 0"),
    ],
)
def test_arity_and_literal_types(expr: str, message: str) -> None:
    found = diagnostics(expr)
    assert any(message in d.message for d in found), [d.message for d in found]


def test_coercible_literal_is_accepted() -> None:
    assert engine.compile_expression('string.substr("android", "2")').evaluate({}) == "droid"


def test_aggregate_only_at_top() -> None:
    (d,) = diagnostics("tolower(set(x))", context="mapping")
    assert d.code == "E104"
    assert "only allowed at the top of a mapping expression" in d.message
    (d,) = diagnostics("count(x) > 1", context="condition")
    assert d.code == "E104"
    engine.compile_expression("valuect(event)", context="mapping")


@pytest.mark.parametrize(
    ("expr", "field_type", "ok"),
    [
        ("set(campaign_id)", "[]string", True),
        ("set(campaign_id)", "date", False),
        ("valuect(event)", "map[string]intsum", True),
        ("valuect(event)", "string", False),
        ("max(epochms())", "date", True),
        ("max(epochms())", "[]string", False),
        ("count(x)", "int", True),
        ("epochms()", "date", True),
        ("epochms()", "string", True),
        ('split(a, ",")', "[]string", True),
        ('split(a, ",")', "int", False),
        ("customer_id", "string", True),
        ('eq(a, "b")', "map[string]int", False),
    ],
)
def test_value_type_against_field_type(expr: str, field_type: str, ok: bool) -> None:
    if ok:
        engine.compile_expression(expr, context="mapping", field_type=field_type)
    else:
        (d,) = diagnostics(expr, context="mapping", field_type=field_type)
        assert d.code == "E105"
        assert f"`{field_type}`" in d.message


def test_unknown_field_type_has_hint() -> None:
    (d,) = diagnostics("x", context="mapping", field_type="[]strng")
    assert d.code == "E107" and d.hint == "did you mean `[]string`?"


def test_include_only_in_filters() -> None:
    (d,) = diagnostics("INCLUDE other")
    assert d.code == "E106"


def test_json_form_of_a_diagnostic() -> None:
    (d,) = diagnostics("epochs()")
    assert d.as_json() == {
        "file": "<expr>", "line": 1, "column": 1, "end_line": 1, "end_column": 7,
        "code": "E101", "severity": "error", "message": "unknown function `epochs`",
        "hint": "did you mean `epochms`?",
    }


def test_multiline_positions() -> None:
    found = diagnostics('eq(a, "x")\n  AND nosuch(b)\n  OR toint()')
    assert [(d.code, d.line, d.column) for d in found] == [("E101", 2, 7), ("E102", 3, 6)]

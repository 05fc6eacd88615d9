"""`sqrt`, `pow` and `avg`, with the rows of qlbridge's builtins test table for each."""

from __future__ import annotations

from typing import Any

import pytest

import engine.lang.functions  # noqa: F401 -- fills the registry
from engine.errors import ConfigError
from engine.lang.compiler import FieldSpec, compile_expression, compile_group
from engine.lang.registry import FUNCTIONS
from tests.helpers import assert_documented, call, evaluate
from tests.lang.qlbridge_rows import EVENT, TS

SIGNATURES = {
    "sqrt": "(x: int|number) -> number",
    "pow": "(x: int|number|string, y: int|number|string) -> number",
    "avg": "(x: int|list|number|string, *more: int|list|number|string) -> number",
}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_registered(name: str) -> None:
    assert_documented(name, SIGNATURES[name])


# qlbridge builtins_test.go, "Math" and "Aggregation functions" (avg).
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pow(5,2)", 25.0),
        ("pow(2,2)", 4.0),
        ("pow(NotAField,2)", None),
        ('pow(5,"hello")', None),
        ('pow(5,"")', None),
        ("sqrt(4)", 2.0),
        ("sqrt(25)", 5.0),
        ("sqrt(NotAField)", None),
        ("avg(1,2)", 1.5),
        ("avg(1,[2,3])", 2.0),
        ('avg(1,"2")', 1.5),
        ('avg(["1","2"])', 1.5),
        ('avg(["1","2","abc"])', None),
        ('avg(split("1,2,3", ","))', 2.0),
        ('avg(split("1,2,abc", ","))', None),
        ('avg("hello")', None),
    ],
)
def test_qlbridge_rows(text: str, expected: Any) -> None:
    assert evaluate(text, EVENT, at=TS) == expected


def test_sqrt_of_a_string_is_refused() -> None:
    # qlbridge row `sqrt("hello")` (an error there): the checker refuses the constant, and a
    # string read from an event is a failure.
    assert call("sqrt", "hello") is None
    assert evaluate("sqrt(x)", {"x": "4"}) is None


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("sqrt", (-1,), None),
        ("sqrt", (2.25,), 1.5),
        ("sqrt", (True,), None),
        ("pow", (10, 400), None),  # +Inf in qlbridge: no field can hold it
        ("pow", (-8, 0.5), None),  # NaN in qlbridge
        ("pow", ("2", "3"), 8.0),
        ("pow", (2, None), None),
        ("avg", (None, 4), 4.0),
        ("avg", (None,), None),
        ("avg", (True, 2), 2.0),
        ("avg", ([],), None),
    ],
)
def test_edges(name: str, args: tuple[Any, ...], expected: Any) -> None:
    assert call(name, *args) == expected


# qlbridge builtins_test.go, "Aggregation functions" (sum): per event there. Here one argument
# at the top of a mapping stays the aggregate (its contribution is the value, or a list's
# total), and `sum(a, b, …)` is that per-event sum anywhere.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sum(1,2)", 3.0),
        ("sum(1,[2,3])", 6.0),
        ('sum(1,"2")', 3.0),
        ('sum(split("1,2", ","))', 3.0),
        ('sum(["1","2"])', 3.0),
        ('sum(["1","abc"])', None),
        ('sum("hello")', None),
        ("sum(nil)", None),
        ('sum("",0)', None),
        ('sum(1, exists("hello"))', None),  # qlbridge: a bool is refused
        ("sum(1, -1)", None),  # qlbridge's quirk, kept: a total of 0 is missing
        ("sum(not_a_field, 4)", 4.0),
    ],
)
def test_sum_qlbridge_rows(text: str, expected: Any) -> None:
    assert evaluate(text, EVENT, at=TS) == expected


def test_sum_of_several_arguments_is_an_ordinary_call() -> None:
    fn = FUNCTIONS["sum"]
    assert fn.aggregate_for(1) is fn.aggregate and fn.aggregate_for(2) is None
    assert evaluate("toint(sum(a, b)) + 1", {"a": "2", "b": 3}) == 6
    assert evaluate("sum(a, b) > 4", {"a": "2", "b": 3}) is True
    with pytest.raises(ConfigError, match="aggregate"):
        compile_expression("tolower(sum(a))")


def test_sum_in_mapping_rows() -> None:
    """One argument: the event's contribution (a list's total); several: the per-event sum,
    nested freely (`toint(sum(a, b))`)."""
    group = compile_group(
        [
            FieldSpec("total", "sum(a)", type="number"),
            FieldSpec("both", "sum(a, b)", type="number"),
            FieldSpec("nested", "toint(sum(a, b))", type="int"),
        ],
        name="t",
    )
    assert group.apply({"a": "2", "b": 3}) == {"total": 2, "both": 5.0, "nested": 5}
    assert group.apply({"a": ["1", "2"]}) == {"total": 3.0, "both": 3.0, "nested": 3}
    assert group.apply({}) == {}

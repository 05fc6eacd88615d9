"""Casting functions, called through the registry as generated code calls them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

import engine.lang.functions  # noqa: F401 -- fills the registry
from engine.lang.registry import FUNCTIONS
from engine.lang.values import EvalFailure
from tests.helpers import call, evaluate

NAMES = ["toint", "tonumber", "tobool", "tostring", "unsign"]

REG_DATE = datetime(2014, 10, 13, tzinfo=UTC)  # todate("10/13/2014")
A_MAP = {"a": 1}


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        # toint: lql.md §3.4 and qlbridge's tests
        ("toint", ("5",), 5),
        ("toint", ("$5.56",), 5),
        ("toint", ("5.56",), 5),
        ("toint", ("$ 5.22",), 5),
        ("toint", ("5,555.00",), 5555),
        ("toint", ("€ 5,555.00",), 5555),
        ("toint", ("£12",), 12),
        ("toint", ("-7",), -7),
        ("toint", ("-5.9",), -5),
        ("toint", ("0x1A",), 26),
        ("toint", ("7941778727260920248",), 7941778727260920248),
        ("toint", (5555.05,), 5555),
        ("toint", (55,), 55),
        ("toint", (True,), 1),
        ("toint", (REG_DATE,), 1413158400000),
        ("toint", (["42", "7"],), 42),
        ("toint", ("hello",), None),
        ("toint", ("",), None),
        ("toint", ("  ",), None),
        ("toint", ([],), None),
        ("toint", (None,), None),
        ("toint", (A_MAP,), None),
        # tonumber
        ("tonumber", ("5",), 5.0),
        ("tonumber", ("5.75",), 5.75),
        ("tonumber", ("$ 5.22",), 5.22),
        ("tonumber", ("$5.56",), 5.56),
        ("tonumber", ("5,555.00",), 5555.0),
        ("tonumber", ("€ 5,555.00",), 5555.0),
        ("tonumber", (10.6,), 10.6),
        ("tonumber", (3,), 3.0),
        ("tonumber", (False,), 0.0),
        ("tonumber", (REG_DATE,), 1413158400000.0),
        ("tonumber", (["1.5"],), 1.5),
        ("tonumber", (float("nan"),), None),
        ("tonumber", ("hello",), None),
        ("tonumber", ("nan",), None),
        ("tonumber", ("",), None),
        ("tonumber", ([],), None),
        ("tonumber", (None,), None),
        ("tonumber", (A_MAP,), None),
        # tobool
        ("tobool", ("true",), True),
        ("tobool", ("t",), True),
        ("tobool", ("1",), True),
        ("tobool", ("TRUE",), True),
        ("tobool", ("f",), False),
        ("tobool", ("0",), False),
        ("tobool", ("False",), False),
        ("tobool", (True,), True),
        ("tobool", (1,), True),
        ("tobool", (0.0,), False),
        ("tobool", (["f", "t"],), False),
        ("tobool", ("hello",), None),
        ("tobool", (2,), None),
        ("tobool", (REG_DATE,), None),
        ("tobool", ("",), None),
        ("tobool", ([],), None),
        ("tobool", (None,), None),
        ("tobool", (A_MAP,), None),
        # tostring: missing gives "" (lql.md §3.4)
        ("tostring", (True,), "true"),
        ("tostring", (1,), "1"),
        ("tostring", (5.0,), "5"),
        ("tostring", (5.5,), "5.5"),
        ("tostring", ("",), ""),
        ("tostring", ("abc",), "abc"),
        ("tostring", (None,), ""),
        ("tostring", (REG_DATE,), "1413158400000"),
        ("tostring", (["a", "b", 3],), "a,b,3"),
        ("tostring", ([],), ""),
        ("tostring", (A_MAP,), None),
        # unsign
        ("unsign", (0,), "0"),
        ("unsign", (-794,), "18446744073709550822"),
        ("unsign", (794,), "794"),
        ("unsign", ("-70",), "18446744073709551546"),
        ("unsign", (-32847623329847,), "18446711226086221769"),
        ("unsign", ("-7941778727260920248",), "10504965346448631368"),
        ("unsign", ("7941778727260920248",), "7941778727260920248"),
        ("unsign", (7941778727260920248,), "7941778727260920248"),
        ("unsign", (-9131769342440180027,), "9314974731269371589"),
        ("unsign", (-(2**63),), "9223372036854775808"),
        ("unsign", (2**64 - 1,), "18446744073709551615"),
        ("unsign", (2**64,), None),
        ("unsign", (False,), None),
        ("unsign", ("howdy",), None),
        ("unsign", ("",), None),
        ("unsign", ([],), None),
        ("unsign", (None,), None),
        ("unsign", (A_MAP,), None),
    ],
)
def test_call(name: str, args: tuple[Any, ...], expected: Any) -> None:
    got = call(name, *args)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("toint", ("hello",)),
        ("toint", ("$",)),
        ("toint", (A_MAP,)),
        ("toint", (["x"],)),
        ("tonumber", ("hello",)),
        ("tonumber", (A_MAP,)),
        ("tobool", ("hello",)),
        ("tobool", (2,)),
        ("tobool", (REG_DATE,)),
        ("tobool", (A_MAP,)),
        ("tostring", (A_MAP,)),
        ("unsign", (False,)),
        ("unsign", ("howdy",)),
        ("unsign", (2**64,)),
        ("unsign", (A_MAP,)),
    ],
)
def test_runtime_failures_raise(name: str, args: tuple[Any, ...]) -> None:
    """Unreadable input is a counted failure (EvalFailure), which `call` turns into missing."""
    with pytest.raises(EvalFailure):
        FUNCTIONS[name].impl(*args)
    assert call(name, *args) is None


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("toint", ("",)),
        ("toint", ([],)),
        ("toint", ([""],)),
        ("tonumber", (" ",)),
        ("tobool", ("",)),
        ("unsign", ("",)),
    ],
)
def test_empty_input_is_no_answer_not_a_failure(name: str, args: tuple[Any, ...]) -> None:
    assert FUNCTIONS[name].impl(*args) is None


@pytest.mark.parametrize(
    ("name", "signature", "nulls"),
    [
        ("toint", "(x: bool|date|int|list|number|string) -> int", "propagate"),
        ("tonumber", "(x: bool|date|int|list|number|string) -> number", "propagate"),
        ("tobool", "(x: bool|int|list|number|string) -> bool", "propagate"),
        ("tostring", "(x: any) -> string", "handle"),
        ("unsign", "(i: int|string) -> string", "propagate"),
    ],
)
def test_registration(name: str, signature: str, nulls: str) -> None:
    fn = FUNCTIONS[name]
    assert fn.signature.render() == signature
    assert fn.nulls == nulls
    assert fn.group == "casting"
    assert fn.safe is False


EXAMPLES = sorted({ex for n in NAMES for ex in FUNCTIONS[n].examples})


@pytest.mark.parametrize(("expr", "result"), EXAMPLES)
def test_examples(expr: str, result: str) -> None:
    got = evaluate(expr)
    want = json.loads(result)
    assert got == want
    assert type(got) is type(want)

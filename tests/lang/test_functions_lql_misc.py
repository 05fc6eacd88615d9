"""`unixtrunc`, `uuid` and `char_length`, with the rows of qlbridge's builtins test table."""

from __future__ import annotations

import re
from typing import Any

import pytest

import engine.lang.functions  # noqa: F401 -- fills the registry
from engine.errors import ConfigError
from engine.lang.compiler import compile_expression
from engine.lang.registry import FUNCTIONS
from engine.lang.values import ms_to_date
from tests.helpers import call, evaluate
from tests.lang.qlbridge_rows import EVENT, TS


def test_registered() -> None:
    assert FUNCTIONS["unixtrunc"].signature.render() == (
        "(d: date|int|string, precision?: string) -> string"
    )
    assert FUNCTIONS["uuid"].signature.render() == "() -> string"
    assert FUNCTIONS["uuid"].volatile and not FUNCTIONS["uuid"].safe
    assert FUNCTIONS["char_length"] is FUNCTIONS["len"]


# qlbridge builtins_test.go, unixtrunc. Dates here hold milliseconds (docs/language.md), so the
# rows whose input carries micro- or nanoseconds give the millisecond's digits: qlbridge's
# values are in the comments.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('unixtrunc("1438445529707")', "1438445529"),
        ('unixtrunc("1438445529", "ms")', "1438445529000"),
        ("unixtrunc(todate(msdate))", "1438445529"),
        ('unixtrunc(todate(msdate), "seconds")', "1438445529.707"),
        ("unixtrunc(todate(msdate2))", "-620110800"),
        ('unixtrunc(todate(msdate2), "seconds")', "-620110799.002"),
        ('unixtrunc(todate(nanodate), "sm")', "1438445529.707000"),  # .707123 in qlbridge
        ('unixtrunc(todate(microdate), "secondsmicro")', "-620110799.001000"),  # .000002
        ('unixtrunc(todate(microdate2), "secondsmicro")', "1588964400.999000"),  # .999998
        ('unixtrunc(todate(msdate), "secondsmicro")', "1438445529.707000"),
        ('unixtrunc(reg_date, "milliseconds")', "1413158400000"),
        ('unixtrunc(reg_date, "seconds")', "1413158400.000"),
        ('unixtrunc("hello")', None),
        ('unixtrunc("hello","seconds")', None),
        ("unixtrunc(reg_date,Address)", None),
        ('unixtrunc(reg_date,"not-valid")', None),
        # uuid, char_length
        ("len(uuid()) > 10", True),
        ('CHAR_LENGTH("abc") ', 3),
    ],
)
def test_qlbridge_rows(text: str, expected: Any) -> None:
    assert evaluate(text, EVENT, at=TS) == expected


@pytest.mark.parametrize("text", ["unixtrunc()", "unixtrunc(a,b,c)", "uuid(a)"])
def test_qlbridge_validation_rows(text: str) -> None:
    with pytest.raises(ConfigError, match="takes"):
        compile_expression(text)


def test_uuid_is_new_on_every_call_and_never_folded() -> None:
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", call("uuid")
    )
    assert evaluate("uuid() = uuid()") is False
    compiled = compile_expression("uuid()")
    assert compiled.evaluate({}, event_time=TS) != compiled.evaluate({}, event_time=TS)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((ms_to_date(-500), "s"), "0.500"),  # qlbridge's printing: the fraction's sign is lost
        ((ms_to_date(-1500), "s"), "-1.500"),
        ((-1, None), None),
        ((1396889935000, "MS"), "1396889935000"),
        ((ms_to_date(-500),), "-1"),  # whole seconds are floored, as Go's Unix()
        (("",), None),
    ],
)
def test_unixtrunc_edges(args: tuple[Any, ...], expected: Any) -> None:
    assert call("unixtrunc", *args) == expected

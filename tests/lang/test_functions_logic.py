"""`all`: what counts as true, as LQL has it (its qlbridge rows are in
tests/lang/test_qlbridge_conformance.py)."""

from __future__ import annotations

from typing import Any

import pytest

import engine.lang.functions  # noqa: F401 -- fills the registry
from tests.helpers import call, evaluate


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((-1,), False),
        ((1, -2.5), False),
        ((-0.5,), True),  # a number's whole part: -0.5 counts as 0
        ((0,), True),
        ((0.0, 3), True),
        (("-1",), True),  # text, not a number
        ((True, "a", 5), True),
        ((False,), False),
        ((None, 1), False),
        (("",), False),
    ],
)
def test_all(args: tuple[Any, ...], expected: bool) -> None:
    assert call("all", *args) is expected


def test_all_in_an_expression() -> None:
    assert evaluate("all(x, y)", {"x": "a", "y": -3}) is False
    assert evaluate("all(x, y)", {"x": "a", "y": 3}) is True

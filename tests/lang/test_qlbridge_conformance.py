"""qlbridge's expression, FilterQL, date-math and builtins test tables, run row by row.

Lytics' LQL is qlbridge's; where docs/language.md is silent, qlbridge's answer is this engine's
(docs/language.md, "Differences from Lytics LQL"). The rows are transcribed in
`tests/lang/qlbridge_tables.py` (vm, FilterQL, date math) and `tests/lang/qlbridge_rows.py`
(the builtins rows no `test_functions_*.py` module holds); here each row is run, and a row
answered otherwise on purpose expects this engine's answer, naming the row of the differences
table that says why. No row is left unanswered: every row passes, with qlbridge's answer or
with ours and its reason.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from engine.audiences.compiled import Audiences
from engine.config.model import AudienceSpec, Expr
from engine.errors import ConfigError, Source
from engine.lang.compiler import compile_expression
from engine.lang.parser import parse_statements
from engine.lang.values import date_to_ms
from tests.helpers import evaluate
from tests.lang import qlbridge_rows as r
from tests.lang import qlbridge_tables as q

# The rows of docs/language.md's table, "Differences from Lytics LQL", by their first cell.
DIVISION = "`/` of two ints that do not divide (`(4 + 5) / 2`)"
NOT_APPLICABLE = (
    "an operator its operands do not fit (`10 BETWEEN 20 AND true`, "
    '`user_id LIKE mt`, `"hello" == split(x, ",")`)'
)
TEXT_ORDER = '`<` `>` between two strings (`user_id > "abc"`)'
ARITH_LIST = 'arithmetic with a list (`5.5 + ["hello"]`)'
NE_FAILED = "`!=` with a side that failed (`(namex + true) != (namex2 + true)`)"
MISSING_COMMA = 'an `IN` list missing a comma (`x IN ("a", "b" 4.5)`)'
FILTER_SELECT = 'a SELECT with a FILTER clause (`SELECT name FROM ctx FILTER name == "Yoda"`)'
ANCHOR = 'relative dates (`"now-30d"`, `todate("now-1d")`) in mappings'
FAILURE = "a failure inside a call's argument (`exists(tonumber(10/0))`)"
CONSTANT_TYPE = 'a constant argument of the wrong type (`array.index(tags, "notint")`)'
FIELD_ARGUMENT = (
    "a field where qlbridge wants a constant (`todatein(d, zone_field)`, "
    "`url.matchqs(u, names_field)`)"
)
# Not a difference of the language: qlbridge's `Address` is a Go struct, which no function
# takes; the event has no such value, so it is a map here (tests/lang/qlbridge_rows.py).
STRUCT = "`Address` is a map here"

REFUSED = object()  # our answer: the config does not load (a ConfigError)

# (text, our answer, why) for each vm_test.go row answered otherwise on purpose.
VM_DIFFERENCES: dict[str, tuple[Any, str]] = {
    "user_id LIKE mt": (False, NOT_APPLICABLE),
    "10 BETWEEN 20 AND true": (False, NOT_APPLICABLE),
    '"hello" == split("hell-no", ",")': (False, NOT_APPLICABLE),
    'user_id > "abc"': (False, TEXT_ORDER),
    "(4 + 5) / 2": (4.5, DIVISION),
    '5.5 +  ["hello"]': (None, ARITH_LIST),
    "(namex + true) != (namex2 + true)": (True, NE_FAILED),
    '10 NOT IN ("a","b" 4.5)': (REFUSED, MISSING_COMMA),
    'NOT (10 IN ("a","b" 4.5))': (REFUSED, MISSING_COMMA),
    '"a" NOT IN ("a","b" 4.5)': (REFUSED, MISSING_COMMA),
    'toint(not_a_field) NOT IN ("a","b" 4.5)': (REFUSED, MISSING_COMMA),
}

# The vm_test.go row of boolean lists on lines of their own, one nested in the other.
_NESTED_LINES = next(text for text, _ in q.VM_ROWS if text.lstrip().startswith("OR (\n"))

# (text, our answer, why) for each builtins_test.go row answered otherwise.
BUILTIN_DIFFERENCES: dict[str, tuple[Any, str]] = {
    "eq(Address, true)": (False, STRUCT),
    "ne(Address, true)": (True, STRUCT),
    "not(Address)": (True, STRUCT),
    'filter(Address,"app")': ({"City": "Detroit", "Zip": 55}, STRUCT),
    "mapkeys(Address)": (["City", "Zip"], STRUCT),
    "len(Address)": (2, STRUCT),
    "contains(tags, Address)": (None, STRUCT),
    "exists(tonumber(10/0))": (None, FAILURE),
    'array.index(tags,"notint")': (REFUSED, CONSTANT_TYPE),
    "array.index(1,6)": (REFUSED, CONSTANT_TYPE),
    'array.slice(tags,"hello",77)': (REFUSED, CONSTANT_TYPE),
    'array.slice(tags,1,"hello")': (REFUSED, CONSTANT_TYPE),
    'array.slice(Labels,"hello",77)': (REFUSED, CONSTANT_TYPE),
    'array.slice(Labels,1,"hello")': (REFUSED, CONSTANT_TYPE),
    'string.substr("android", 0 , "hello")': (REFUSED, CONSTANT_TYPE),
    # qlbridge's `now-3m` is three minutes before the wall clock; here before the event time
    'todate("Apr 7, 2014 4:58:55 PM") < todate("now-3m")': (False, ANCHOR),
}

# (why) for each builtins_test.go validation row this engine accepts on purpose.
REFUSED_DIFFERENCES: dict[str, str] = {
    'url.matchqs("http://go.gl", not_an_identity)': FIELD_ARGUMENT,
    'todatein("May 8, 2009 5:57:51 PM", invalid_identity)': FIELD_ARGUMENT,
}


def test_each_difference_is_documented() -> None:
    table = (Path(__file__).parents[2] / "docs" / "language.md").read_text()
    cited = [
        *VM_DIFFERENCES.values(),
        *BUILTIN_DIFFERENCES.values(),
        *((None, why) for why in REFUSED_DIFFERENCES.values()),
        (None, FILTER_SELECT),
    ]
    for _, why in cited:
        assert why == STRUCT or f"\n| {why} |" in table, why


def _row(
    file: str,
    number: int,
    text: str,
    expected: Any,
    differences: dict[str, tuple[Any, str]] | None = None,
) -> Any:
    """One row as a pytest param: id ``file#row``, its expected answer (ours where it differs
    on purpose)."""
    if differences and text in differences:
        expected = differences[text][0]
    return pytest.param(text, expected, id=f"{file}#{number}")


def _filter(name: str, text: str) -> AudienceSpec:
    return AudienceSpec(name=name, filter=Expr(text, Source(name, text)))


def _audiences(text: str, includes: dict[str, str]) -> Audiences:
    """The row's filter as audience `row`, beside the statements it may include."""
    return Audiences([*(_filter(k, v) for k, v in includes.items()), _filter("row", text)])


def _matches(text: str, includes: dict[str, str], context: dict[str, Any], at: datetime) -> bool:
    return "row" in _audiences(text, includes).members(context, date_to_ms(at))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        _row("vm_test.go", i, text, expected, VM_DIFFERENCES)
        for i, (text, expected) in enumerate(q.VM_ROWS, 1)
    ],
)
def test_vm(text: str, expected: Any) -> None:
    # qlbridge's `now()` and relative dates read the wall clock, ours the event time
    # (docs/language.md, "relative dates … in mappings"): here both are the table's `NOW`.
    if expected is REFUSED:
        with pytest.raises(ConfigError, match=r"E001"):
            evaluate(text, q.VM_CONTEXT, at=q.NOW)
        return
    got = evaluate(text, q.VM_CONTEXT, at=q.NOW)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        _row("builtins_test.go", i, text, expected, BUILTIN_DIFFERENCES)
        for i, (text, expected) in enumerate(r.BUILTIN_ROWS, 1)
    ],
)
def test_builtins(text: str, expected: Any) -> None:
    # the rows of the functions whose own tests transcribe them are in those tests
    if expected is REFUSED:
        with pytest.raises(ConfigError, match=r"E103"):
            evaluate(text, r.BUILTINS_EVENT, at=r.TS)
        return
    got = evaluate(text, r.BUILTINS_EVENT, at=r.TS)
    if expected is r.A_DATE:
        assert isinstance(got, datetime)
    elif isinstance(expected, list) and isinstance(got, list):
        # qlbridge compares lists of strings sorted
        assert sorted(map(str, got)) == sorted(map(str, expected))
    else:
        assert got == expected
        assert type(got) is type(expected)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(text, id=f"builtins_test.go:validation#{i}")
        for i, text in enumerate(r.BUILTIN_REFUSED, 1)
    ],
)
def test_builtins_refused(text: str) -> None:
    if text in REFUSED_DIFFERENCES:
        compile_expression(text)  # the argument is read per event
        return
    with pytest.raises(ConfigError):
        compile_expression(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        *(
            _row("filterqlvm_test.go:hits", i, text, True)
            for i, text in enumerate(q.FILTER_HITS, 1)
        ),
        *(
            _row("filterqlvm_test.go:misses", i, text, False)
            for i, text in enumerate(q.FILTER_MISSES, 1)
        ),
    ],
)
def test_filterql(text: str, expected: bool) -> None:
    assert _matches(text, q.FILTER_INCLUDES, q.FILTER_CONTEXT, q.NOW) is expected


@pytest.mark.parametrize(
    ("text", "context", "expected"),
    [
        pytest.param(text, context, expected, id=f"filterqlvm_test.go:include#{i}")
        for i, (text, context, expected) in enumerate(q.INCLUDE_ROWS, 1)
    ],
)
def test_include(text: str, context: dict[str, Any], expected: bool) -> None:
    # an unknown INCLUDE does not evaluate there and matches nothing here; a config naming
    # one is refused when it loads (`C012`, docs/config.md)
    assert _matches(text, q.INCLUDE_TEST, context, q.NOW) is expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(text, id=f"filterqlvm_test.go:filterSelects#{i}")
        for i, (text, _) in enumerate(q.FILTER_SELECTS, 1)
    ],
)
def test_filter_select(text: str) -> None:
    # qlbridge writes the columns of a context the filter matches; here a SELECT is a mapping
    # into a profile, with INTO and WHERE (FILTER_SELECT)
    with pytest.raises(ConfigError, match=r"E001"):
        parse_statements(text)


@pytest.mark.parametrize(
    ("text", "match", "boundary"),
    [
        pytest.param(text, match, boundary, id=f"datemath_test.go:boundaries#{i}")
        for i, (text, match, boundary) in enumerate(q.BOUNDARY_ROWS, 1)
    ],
)
def test_date_boundaries(text: str, match: bool, boundary: datetime | None) -> None:
    audiences = _audiences(text, {})
    now = date_to_ms(q.NOW)
    assert ("row" in audiences.members(q.BOUNDARY_CONTEXT, now)) is match
    audience = audiences.audiences["row"]
    assert audience.clock_reads  # qlbridge's `HasDateMath`
    expected = None if boundary is None else date_to_ms(boundary)
    assert audiences.next_check(audience, q.BOUNDARY_CONTEXT, now) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(text, id=f"datemath_test.go:datemath#{i}")
        for i, text in enumerate(q.DATEMATH_MISSES, 1)
    ],
)
def test_date_math(text: str) -> None:
    audiences = _audiences(text, q.DATEMATH_INCLUDES)
    assert audiences.audiences["row"].clock_reads  # date math, through INCLUDE too
    assert not _matches(text, q.DATEMATH_INCLUDES, q.DATEMATH_CONTEXT, q.DATEMATH_AT)


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        pytest.param(
            text,
            refused,
            id=f"datemath_test.go:relative#{i}",
        )
        for i, (text, refused) in enumerate(q.DATEMATH_RELATIVE, 1)
    ],
)
def test_relative_date_spelling(text: str, refused: bool) -> None:
    if refused:
        with pytest.raises(ConfigError, match=r"E110"):
            _audiences(text, {})
    else:
        assert _audiences(text, {}).audiences["row"].clock_reads

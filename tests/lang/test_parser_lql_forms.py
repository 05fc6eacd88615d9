"""LQL spellings the parser reads as qlbridge does: backquoted path steps, a line starting with
`AND (` inside a FilterQL list, `IN` with one string on the right, a backslash a string does
not escape kept for the pattern that reads it (docs/language.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import engine
from engine.errors import ConfigError
from engine.lang import nodes as n
from engine.lang.parser import parse_expression, parse_filter
from engine.lang.printer import dump, to_source

AT = datetime(2015, 12, 20, tzinfo=UTC)
EVENT: dict[str, Any] = {
    "lastevent": {"signedup": "12/18/2015"},
    "last.event": {"has.period": "12/18/2015"},
    "last": {"event": {"has": {"period": "elsewhere"}}},
    "email": "bob@google.com",
}


def ev(expr: str) -> Any:
    return engine.compile_expression(expr).evaluate(EVENT, event_time=AT)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("`lastevent`.`signedup`", "12/18/2015"),
        ("`lastevent`.signedup", "12/18/2015"),
        ("lastevent.`signedup`", "12/18/2015"),
        ('`lastevent`.`signedup` == "12/18/2015"', True),
        # a quoted step keeps its dots: one key, not two steps
        ("`last.event`.`has.period`", "12/18/2015"),
        ("last.event.has.period", "elsewhere"),
        ('`last.event`.`has.period` == "12/18/2015"', True),
        ("`last.event`.`nope`", None),
    ],
)
def test_backquoted_path_steps(expr: str, expected: Any) -> None:
    assert ev(expr) == expected


def test_quoted_steps_print_back_and_reparse() -> None:
    node = parse_expression("`last.event`.`has.period`")
    assert isinstance(node, n.Identifier)
    assert node.steps == ("last.event", "has.period")
    assert to_source(node) == "`last.event`.`has.period`"
    assert dump(parse_expression(to_source(node))) == dump(node)
    # quoted steps without dots are the plain path
    plain = parse_expression("`lastevent`.`signedup`")
    assert isinstance(plain, n.Identifier) and plain == n.Identifier(
        plain.span, "lastevent.signedup"
    )


def test_a_line_starting_with_and_begins_a_new_term_in_a_list() -> None:
    node = parse_filter("""FILTER OR (
        email == "x"
        AND (email CONTAINS "bob", email CONTAINS "google")
    )""")
    assert dump(node) == (
        '(or-list (= (ident email) "x") (and-list (contains (ident email) '
        '"bob") (contains (ident email) "google")))'
    )
    assert isinstance(node, n.BoolList)
    assert (node.terms[1].span.line, node.terms[1].span.column) == (3, 9)
    nested = parse_filter("""FILTER AND (
        INCLUDE a
        OR (
            x > 20
            y > 50
        )
        NOT AND ( s > 20, s < 50 )
    )""")
    assert isinstance(nested, n.BoolList) and len(nested.terms) == 3
    # qlbridge's own case (rel/parse_filterql_test.go): five terms, the fourth an OR list
    five = parse_filter("""
    FILTER
      AND (
          -- Lets make sure the date is good
          daysago(datefield) < 100
          -- as well as domain
          domain(url) == "google.com"
          INCLUDE my_other_named_filter
          OR (
              momentum > 20
             propensity > 50
          )
          NOT AND ( score > 20 , score < 50 )
       )
    ALIAS my_filter_name""")
    assert isinstance(five, n.BoolList) and len(five.terms) == 5
    assert isinstance(five.terms[3], n.BoolList) and five.terms[3].op == "or"


def test_elsewhere_a_line_starting_with_and_continues() -> None:
    for text in ("x = 1\n  AND (y = 2)", "(x = 1\n AND (y = 2))", "OR (f(x\n AND (y)))"):
        node = parse_expression(text)
        assert "(and " in dump(node), text
    assert ev('email == "bob@google.com"\n  AND (email CONTAINS "bob")') is True


def test_line_keyword_errors_point_at_the_keyword() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_expression("x = 1\n  AND (y = 2")
    d = caught.value.diagnostics[0]
    assert "expected `)`" in d.message


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('emaildomain(email) in "google.com"', True),
        ('emaildomain(email) IN "bing.com"', False),
        ('emaildomain(email) NOT IN "bing.com"', True),
        ('email INTERSECTS "bob@google.com"', True),
    ],
)
def test_in_with_one_string(expr: str, expected: bool) -> None:
    assert ev(expr) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r'"\*bc"', "\\*bc"),
        (r'"\d+"', "\\d+"),
        (r'"50\%"', "50\\%"),
        (r'"a\"b\\c\n\u00e9\/"', 'a"b\\c\né/'),
        (r"'it\'s'", "it's"),
    ],
)
def test_a_backslash_a_string_does_not_escape_is_kept(text: str, expected: str) -> None:
    assert parse_expression(text) == n.Literal(parse_expression(text).span, expected)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (r'"abc" LIKE "\*bc"', False),
        (r'"*bc" LIKE "\*bc"', True),
        (r'"50%" LIKE "50\%"', True),
        (r'"500" LIKE "50\%"', False),
        (r'"500" LIKE "50\\%"', False),
        (r'regex.match("a12", "^a\d+$")', True),
    ],
)
def test_a_kept_backslash_escapes_the_pattern(expr: str, expected: bool) -> None:
    assert ev(expr) is expected

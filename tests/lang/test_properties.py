"""Property tests: whatever the text, the engine answers with its own errors; whatever the
well-typed expression and event, compiled code never raises and agrees with the reference
interpreter; printing and re-parsing a tree gives the same tree."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import engine
from engine.errors import ConfigError, Source
from engine.lang import nodes as n
from engine.lang.checker import check
from engine.lang.codegen import Item, generate
from engine.lang.codegen.expressions import _key
from engine.lang.functions import FUNCTIONS
from engine.lang.parser import parse_expression
from engine.lang.printer import to_source
from tests.lang.reference import evaluate

SPAN = n.Span(0, 0, 1, 1, 1, 1)
TS = 1396889935000
NAMES = ["a", "b", "c", "data.x", "`odd key`"]

# ---- random text ---------------------------------------------------------------------------

TOKENS = ["(", ")", ",", "[", "]", "AND", "OR", "NOT", "IN", "LIKE", "BETWEEN", "IS", "NULL",
          "=", "!=", "<", ">=", "+", "-", "*", "/", "%", "'x'", '"y"', "1", "2.5", "a", "b.c",
          "eq", "hash", "IF", "ELSE", "EXISTS", "`q`", "--c\n", "/*", "*/", "INCLUDE", "\\",
          "\x00", "é", "\n"]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_random_text_only_raises_config_error(text: str) -> None:
    try:
        engine.compile_expression(text)
    except ConfigError as exc:
        assert exc.diagnostics


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=25))
def test_random_token_soup_only_raises_config_error(tokens: list[str]) -> None:
    try:
        engine.compile_expression(" ".join(tokens))
    except ConfigError as exc:
        for d in exc.diagnostics:
            assert d.render()


# ---- random trees --------------------------------------------------------------------------

STRINGS = ["", "a", "email", "opened", "now-1d", "2014-04-07", "5", "true",
           "https://www.lytics.io/?x=1", "Bob <Bob@Bob.com>", "a,b", "*x*", "ünï"]
literals = st.one_of(
    st.sampled_from(STRINGS),
    st.integers(-1000, 10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.none(),
).map(lambda v: n.Literal(SPAN, v))
identifiers = st.sampled_from(NAMES).map(
    lambda s: n.Identifier(SPAN, s.strip("`"), quoted=s.startswith("`")))
# A volatile function (`uuid`) answers anew on every call: no two runs can agree on it.
FN_NAMES = sorted({f.name for f in FUNCTIONS.values() if not f.aggregate and not f.volatile})


def _calls(children: st.SearchStrategy[n.Expr]) -> st.SearchStrategy[n.Expr]:
    def build(name: str, data: st.DataObject) -> n.Expr:
        sig = FUNCTIONS[name].signature
        hi = sig.max_args if sig.max_args is not None else sig.min_args + 2
        count = data.draw(st.integers(sig.min_args, hi))
        args = tuple(data.draw(children) for _ in range(count))
        return n.Call(SPAN, name, args, SPAN)

    return st.builds(build, st.sampled_from(FN_NAMES), st.data())


def _negate(a: n.Expr) -> n.Expr:
    """As the parser does: a minus sign before a number is part of the literal."""
    if isinstance(a, n.Literal) and type(a.value) in (int, float):
        return n.Literal(SPAN, -a.value)  # type: ignore[operator]
    return n.Unary(SPAN, "neg", a)


def _extend(children: st.SearchStrategy[n.Expr]) -> st.SearchStrategy[n.Expr]:
    ops = st.sampled_from(["and", "or", "=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%"])
    return st.one_of(
        _calls(children),
        st.builds(lambda o, a, b: n.Binary(SPAN, o, a, b), ops, children, children),
        st.builds(lambda a: n.Unary(SPAN, "not", a), children),
        st.builds(_negate, children),
        st.builds(lambda o, a, items, neg: n.Membership(SPAN, o, a, n.ListLiteral(SPAN, items),
                                                        neg),
                  st.sampled_from(["in", "intersects"]), children,
                  st.lists(literals, max_size=3).map(tuple), st.booleans()),
        st.builds(lambda o, a, b, neg: n.Membership(SPAN, o, a, b, neg),
                  st.sampled_from(["contains", "like"]), children, children, st.booleans()),
        st.builds(lambda a, lo, hi, neg: n.Between(SPAN, a, lo, hi, neg),
                  children, children, children, st.booleans()),
        st.builds(lambda a, neg: n.IsNull(SPAN, a, neg), children, st.booleans()),
        st.builds(lambda t, c, o: n.Conditional(SPAN, t, c, o), children, children, children),
        st.builds(lambda items: n.ListLiteral(SPAN, tuple(items)),
                  st.lists(children, max_size=3)),
    )


trees = st.recursive(st.one_of(literals, identifiers), _extend, max_leaves=8)

values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**13),
              st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(STRINGS),
              st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(["x", "y"]), inner, max_size=2)),
    max_leaves=4,
)
events = st.fixed_dictionaries({}, optional={
    "a": values, "b": values, "c": values, "odd key": values,
    "data": st.fixed_dictionaries({}, optional={"x": values}),
})


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return bool(x == y) and type(x) is type(y)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much,
                                                                  HealthCheck.too_slow])
@given(trees, events)
def test_compiled_code_agrees_with_reference(tree: n.Expr, event: dict[str, Any]) -> None:
    source = Source("<prop>", "")
    assume(not check(tree, source))
    generated = generate([Item(tree)], mode="value", name="prop")
    got = generated.function(event, TS)
    want = evaluate(tree, event, TS)
    assert _same(got, want), (to_source(tree), event, got, want)


@settings(max_examples=300, deadline=None)
@given(trees)
def test_print_then_parse_is_stable(tree: n.Expr) -> None:
    # `not(x)` is read as the NOT operator, which means the same as the function.
    assume(not any(isinstance(x, n.Call) and x.name == "not" for x in n.walk(tree)))
    text = to_source(tree)
    reparsed = parse_expression(text)
    assert _key(reparsed, {}) == _key(tree, {}), text
    assert to_source(reparsed) == text


@pytest.mark.parametrize("text", ["-(exists(x))", "(exists(null)) INTERSECTS ()", "NOT exists x"])
def test_exists_as_an_operand_prints_in_parentheses(text: str) -> None:
    # `exists` is a predicate keyword: printed bare as an operand it would not parse back
    tree = parse_expression(text)
    assert _key(parse_expression(to_source(tree)), {}) == _key(tree, {})


# ---- aggregates: each emit hook agrees with the reference ------------------------------------

AGGREGATES = sorted({f.name for f in FUNCTIONS.values() if f.aggregate})
_EMPTY: list[Any] = [None, "", [], {}]


@pytest.mark.parametrize("arg", ["a", "toint(a)"])
@pytest.mark.parametrize("name", AGGREGATES)
@settings(max_examples=60, deadline=None)
@given(st.one_of(st.sampled_from([*_EMPTY, 0, "0", "x", True, ["", "x"]]), values))
def test_every_aggregate_contribution_agrees_with_reference(name: str, arg: str, a: Any
                                                            ) -> None:
    """The value an aggregate gives (`engine eval`) is the reference's; a mapping field writes
    that same contribution, or nothing when it is missing or empty."""
    fn = FUNCTIONS[name]
    assert fn.aggregate is not None
    tree = parse_expression(f"{name}({arg})")
    event = {"a": a}
    want = evaluate(tree, event, TS)
    value = generate([Item(tree)], mode="value", name="prop").function(event, TS)
    assert _same(value, want), (name, arg, a, value, want)
    for field_type in sorted(fn.aggregate.field_types):
        assert not check(tree, Source("<prop>", ""), context="mapping", field_type=field_type)
        out = generate([Item(tree, "f")], mode="fields", name="prop").function(event, TS)
        if "f" in out:
            assert _same(out["f"], want), (name, arg, a, out, want)
        else:
            assert any(_same(want, e) for e in _EMPTY), (name, arg, a, want)

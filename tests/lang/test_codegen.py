"""The code generator: one function per mapping, identifiers read once, shared conditions
computed once, and the same results as the reference interpreter."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import ConfigError, Source
from engine.lang import nodes as n
from engine.lang.codegen import expressions
from engine.lang.compiler import (
    CompiledGroup,
    FieldSpec,
    compile_expression,
    compile_group,
    compile_select,
)
from engine.lang.parser import parse_statements
from engine.lang.runtime import read_path
from engine.lang.values import ms_to_date
from tests.lang.reference import evaluate

ROOT = Path(__file__).resolve().parents[2]
TS = 1769420700000  # 2026-01-26T09:45:00Z
SPAN = n.Span(0, 0, 1, 1, 1, 1)
FLAT_TEST_ONCE = expressions._FLAT_TEST_ONCE


def customerio_mapping() -> tuple[CompiledGroup, Any]:
    path = ROOT / "mappings" / "customerio.lql"
    source = Source(str(path), path.read_text())
    (stmt,) = parse_statements(source)
    return compile_select(stmt, source), stmt


EVENTS = [
    {"object_type": "email", "metric": "opened", "event": "email_opened",
     "customer_id": "usr_48213", "email": "Maria.Lopez@Example.com", "campaign_id": 118,
     "journey_id": "01KFT7", "subject": "Your March plan"},
    {"object_type": "email", "metric": "clicked", "event": "email_clicked",
     "customer_id": "usr_48213", "href": "https://www.lytics.io/?utm_source=google"},
    {"object_type": "in-app", "metric": "clicked", "event": "in_app_clicked",
     "customer_id": "usr_90077", "campaign_name": "Spring"},
    {"object_type": "slack", "metric": "failed", "event": "slack_failed", "email": "bad@@x"},
    {"object_type": "sms", "metric": "sent", "event": "sms_sent", "campaign_id": ["a", "b"]},
    {},
]


def test_customerio_mapping_has_the_29_seed_fields_then_six_more() -> None:
    group, stmt = customerio_mapping()
    assert len(group.fields) == 29 + 6
    assert stmt.by == ("cio_customer_id", "email", "cio_id")
    assert stmt.stream == "customerio_events"


def test_email_open() -> None:
    group, _ = customerio_mapping()
    assert group.function(EVENTS[0], TS) == {
        "cio_customer_id": "usr_48213",
        "email": "maria.lopez@example.com",
        "cio_email_last_open_ts": TS,
        "cio_email_hourlyopens": {"9": 1},
        "last_active_ts": TS,
        "cio_campaign_ids": ["118"],
        "cio_journey_ids": ["01KFT7"],
        "cio_channels": ["email"],
        "cio_subjects": ["Your March plan"],
        "cio_events": {"email_opened": 1},
        "cio_last_event_ts": {"email_opened": ms_to_date(TS)},
    }


def test_click_hashes_the_url() -> None:
    group, _ = customerio_mapping()
    out = group.function(EVENTS[1], TS)
    assert out["hashedurls"] == {"1272651684649158109": 1}
    assert out["cio_email_last_clicked_ts"] == TS
    assert "cio_email_hourlyopens" not in out


@pytest.mark.parametrize("event", EVENTS)
def test_every_field_agrees_with_the_reference(event: dict[str, Any]) -> None:
    group, stmt = customerio_mapping()
    out = group.function(event, TS)
    for col in stmt.columns:
        if col.guard is not None and evaluate(col.guard, event, TS) is not True:
            assert col.field not in out
            continue
        want = evaluate(col.expr, event, TS)
        if want is None or want in ("", [], {}):
            assert col.field not in out
        else:
            assert out[col.field] == want, col.field


def test_one_function_reads_each_identifier_once_and_shares_conditions() -> None:
    group, _ = customerio_mapping()
    code = group.code
    assert len(re.findall(r"^def ", code, re.M)) == 1
    for name in ("object_type", "metric", "customer_id", "email", "href", "event"):
        assert code.count(f"ev.get({name!r})") == 1, name
    assert code.count("== 'email')") == 1
    assert "elif" in code  # metric tests under one object type are exclusive
    # a comparison of a local with a constant is as cheap as a hoisted local: never hoisted
    assert not re.search(r"^    _s\d+ = \(_v\d+ == ", code, re.M)


def test_shared_subexpressions_are_computed_once() -> None:
    # functions that may fail (urlmain) are not shared: their failure is counted per field
    group = compile_group([FieldSpec("n", "len(email)", type="int"),
                           FieldSpec("c", "len(email)", guard="len(email) > 3", type="int")],
                          name="t")
    assert group.code.count(f"{_fn_local(group, 'len')}(") == 1
    assert group.apply({"email": "abcd"}) == {"n": 4, "c": 4}
    assert group.apply({"email": "abc"}) == {"n": 3}


def _fn_local(group: CompiledGroup, name: str) -> str:
    """The generated local that holds function `name`'s implementation."""
    from engine.lang.registry import lookup

    fn = lookup(name)
    assert fn is not None
    ns = group.function.__globals__
    (local,) = [k for k, v in ns.items() if v is fn.impl]
    return local


def test_line_map_points_back_into_the_lql_file() -> None:
    group, _ = customerio_mapping()
    text = (ROOT / "mappings" / "customerio.lql").read_text()
    lines = group.code.splitlines()
    hits = [i for i, line in enumerate(lines, 1) if "'hashedurls'" in line]
    source, span = group.line_map[hits[0]]
    assert source is not None and source.name.endswith("customerio.lql")
    assert text[span.start:span.end] == "valuect(hash(urlmain(href)))"


def test_failures_are_counted_per_field_and_never_raise() -> None:
    group = compile_group([FieldSpec("hour", "hourofday(d)", type="int"),
                           FieldSpec("ok", "d", type="string")], name="t")
    assert group.apply({"d": "not a date"}) == {"ok": "not a date"}
    assert group.failures() == {"hour": 1}


def test_where_drops_events() -> None:
    group = compile_group([FieldSpec("x", "x")], name="t", where="exists(x) AND x != 'skip'")
    assert group.apply({"x": "keep"}) == {"x": "keep"}
    assert group.apply({"x": "skip"}) is None
    assert group.apply({}) is None


def test_guard_must_be_exactly_true() -> None:
    group = compile_group([FieldSpec("x", "x", guard="flag")], name="t")
    assert group.apply({"x": 1, "flag": True}) == {"x": 1}
    assert group.apply({"x": 1, "flag": "true"}) == {}
    assert group.apply({"x": 1}) == {}


def test_missing_empty_and_empty_list_write_nothing() -> None:
    group = compile_group([FieldSpec("a", "a"), FieldSpec("b", 'split(b, ",")', type="[]string"),
                           FieldSpec("c", "set(c)", type="[]string")], name="t")
    assert group.apply({"a": "", "b": "", "c": []}) == {}
    assert group.apply({"a": 0, "b": "x", "c": ["y", ""]}) == {"a": 0, "b": ["x"], "c": ["y"]}


def test_all_errors_of_all_fields_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        compile_group([FieldSpec("a", "nosuch(x)"), FieldSpec("b", "set(x)", type="date"),
                       FieldSpec("c", "x", guard="count(x)")], name="t")
    assert [d.code for d in info.value.diagnostics] == ["E101", "E105", "E104"]


def test_aggregate_contributions() -> None:
    group = compile_group([
        FieldSpec("n", "count(x)", type="int"),
        FieldSpec("s", "sum(x)", type="number"),
        FieldSpec("hi", "max(x)", type="number"),
        FieldSpec("vc", "valuect(x)", type="map[string]intsum"),
        FieldSpec("st", "set(x)", type="[]string"),
    ], name="t")
    assert group.apply({"x": 5}) == {"n": 1, "s": 5, "hi": 5, "vc": {"5": 1}, "st": ["5"]}
    assert group.apply({"x": True})["vc"] == {"true": 1}
    assert group.apply({}) == {}


# ---- dotted names: prefixes read once, the flat key spelled with the dots wins ----------------

TRANSFORM = [
    FieldSpec("customer_id", "oneof(data.identifiers.id, data.customer_id)"),
    FieldSpec("email", 'oneof(data.identifiers.email, data.email_address, '
                       'data.recipient IF eq(object_type, "email") ELSE null)'),
    FieldSpec("cio_id", "data.identifiers.cio_id"),
    FieldSpec("campaign_id", "data.campaign_id"),
    FieldSpec("journey_id", "data.journey_id"),
    FieldSpec("action_id", "data.action_id"),
    FieldSpec("delivery_id", "data.delivery_id"),
    FieldSpec("subject", "data.subject"),
    FieldSpec("href", "data.href"),
    FieldSpec("event", 'object_type + "_" + metric'),
    FieldSpec("platform", "data.recipients.1.device_platform"),
]


@pytest.fixture(params=["per-name", "once"])
def flat_test(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of honouring flat dotted keys: a lookup per name, or one test per event."""
    monkeypatch.setattr(expressions, "_FLAT_TEST_ONCE", 1000 if request.param == "per-name" else 1)
    return str(request.param)


def _paths(*names: str) -> CompiledGroup:
    return compile_group([FieldSpec(f"f{i}", name) for i, name in enumerate(names)], name="t")


def test_flat_dotted_key_wins(flat_test: str) -> None:
    group = _paths("data.identifiers.id", "data.campaign_id")
    nested = {"data": {"identifiers": {"id": "nested"}, "campaign_id": 7}}
    assert group.apply(nested) == {"f0": "nested", "f1": 7}
    assert group.apply({**nested, "data.identifiers.id": "flat"}) == {"f0": "flat", "f1": 7}
    # a flat key holding null does not win; a flat 0 or false does
    assert group.apply({**nested, "data.identifiers.id": None})["f0"] == "nested"
    assert group.apply({**nested, "data.identifiers.id": 0})["f0"] == 0
    assert group.apply({**nested, "data.campaign_id": False})["f1"] is False
    assert group.apply({"data.campaign_id": "only flat"}) == {"f1": "only flat"}
    assert ("isdisjoint" in group.code) is (flat_test == "once")


def test_nested_walk(flat_test: str) -> None:
    group = _paths("a.b.c.d", "a.b.x")
    assert group.apply({"a": {"b": {"c": {"d": "deep"}, "x": 1}}}) == {"f0": "deep", "f1": 1}
    assert group.apply({"a": {"b": {"c": {}}}}) == {}
    # only the whole name is a flat key: a dotted key on the way is not a step
    assert group.apply({"a": {"b.c": {"d": "no"}}, "a.b": {"c": {"d": "no"}}}) == {}


def test_list_index_steps(flat_test: str) -> None:
    group = _paths("items.0.name", "items.1", "items.x", "items.10.name")
    event = {"items": [{"name": "first"}, "second"]}
    assert group.apply(event) == {"f0": "first", "f1": "second"}
    assert group.apply({"items": []}) == {}
    assert group.apply({"items": {"0": {"name": "a key"}}}) == {"f0": "a key"}
    # steps that look like numbers but no list index is: missing, never a failure
    names = ["items.\u00b2", "items." + "1" * 5000, "items.\u0661"]
    odd = compile_group([FieldSpec(f"f{i}", n.Identifier(SPAN, name), expr_source=Source("<p>", ""))
                         for i, name in enumerate(names)], name="t")
    assert odd.apply({"items": ["a", "b"]}) == {"f2": "b"}


@pytest.mark.parametrize("data", [None, "text", 5, 0, False, True, 2.5, ["x"], [], {}])
def test_non_dict_intermediates_give_missing(flat_test: str, data: Any) -> None:
    group = _paths("data.identifiers.id", "data.x", "data.identifiers")
    assert group.apply({"data": data}) == {}
    assert group.apply({"data": {"identifiers": data}}) == (
        {"f2": data} if data not in (None, "", [], {}) else {})


def test_a_prefix_read_as_a_value_is_the_value_itself(flat_test: str) -> None:
    group = _paths("data", "data.x", "data.y.z", "data.y")
    for data in ([1, 2], {"x": 1}, "s", None, {"y": [3]}, {"y": {"z": 4}}):
        out = group.function({"data": data}, TS)
        assert out.get("f0") == (data or None), data
        assert type(out.get("f3")) is type(data.get("y") if isinstance(data, dict) else None)


def test_each_prefix_is_read_once(flat_test: str) -> None:
    group = compile_group(TRANSFORM, name="customerio_events", context="transform")
    code = group.code
    assert code.count(".get('data')") == 1
    assert code.count(".get('identifiers')") == 1
    for leaf in ("id", "email", "cio_id", "customer_id", "campaign_id", "href"):
        assert code.count(f".get({leaf!r})") == 1, leaf
    assert "_path(" not in code
    # identifiers are all read before the first field
    assert code.index(".get('href')") < code.index("out = {}")


# Customer.io reporting webhooks as they arrive (docs/customerio.md), and some that do not.
WEBHOOKS = [
    {"event_id": "01KFWV494G691NECTR7S4BQ78Y", "object_type": "email", "metric": "clicked",
     "timestamp": 1769420760,
     "data": {"customer_id": "usr_48213",
              "identifiers": {"id": "usr_48213", "email": "maria.lopez@example.com",
                              "cio_id": "a3f2c1000017"},
              "campaign_id": 118, "action_id": 907, "journey_id": "01KFT7T8NG6X7MQFJ61C5QBD3M",
              "delivery_id": "CnqmoKG3MLIotFN-8ChYvrXfK7s", "recipient": "maria.lopez@example.com",
              "subject": "Your March plan summary is ready",
              "href": "https://shop.example.com/plans/upgrade?plan=pro#compare", "link_id": 3,
              "machine": False}},
    {"event_id": "01KFWTG565A7R61YD1EMB8RFTC", "object_type": "push", "metric": "sent",
     "timestamp": 1769420100,
     "data": {"customer_id": "usr_90077", "identifiers": {"id": "usr_90077"},
              "broadcast_id": 42, "action_id": 512, "journey_id": "01KFWPS4Q8RHCK6GJ7YP36JV0D",
              "recipients": [{"device_id": "8f2c1d0e", "device_platform": "ios"},
                             {"device_id": "fJ3kL9xQ", "device_platform": "android"}]}},
    {"event_id": "01KFWT705ZVJB8XG3K44F2DEED", "object_type": "customer", "metric": "subscribed",
     "timestamp": 1769419800,
     "data": {"customer_id": "usr_48213",
              "identifiers": {"id": "usr_48213", "email": "maria.lopez@example.com",
                              "cio_id": "a3f2c1000017"},
              "email_address": "maria.lopez@example.com"}},
    {"object_type": "email", "metric": "clicked",
     "data": {"identifiers": {"id": "usr_1", "email": ""}, "recipient": "r@x.com",
              "campaign_id": 3, "href": "https://x.com/"}},
    {"object_type": "push", "metric": "sent",
     "data": {"identifiers": None, "customer_id": 9, "recipient": "+15550001"}},
    {"object_type": 4, "metric": "x", "data.identifiers.email": "flat@x.com", "data": []},
]


@pytest.mark.parametrize("event", [*EVENTS, *WEBHOOKS])
def test_transform_agrees_with_the_reference(flat_test: str, event: dict[str, Any]) -> None:
    from engine.lang.parser import parse_expression

    group = compile_group(TRANSFORM, name="customerio_events", context="transform")
    out = group.function(event, TS)
    for spec in TRANSFORM:
        assert isinstance(spec.expr, str)
        want = evaluate(parse_expression(Source("<t>", spec.expr)), event, TS)
        assert out.get(spec.field) == (None if want in (None, "") else want), spec.field


HOSTILE_STEPS = ["it's", 'say "hi"', "back\\slash", "new\nline", "\\'; import os #", "",
                 "__class__", "0"]


def test_hostile_path_steps_cannot_break_the_source(flat_test: str) -> None:
    from tests.lang.test_security import _assert_clean

    # The grammar only lets plain names be steps; a tree built by hand may hold anything.
    names = [f"data.{step}.{step}" for step in HOSTILE_STEPS] + [f"{s}.x" for s in HOSTILE_STEPS]
    source = Source("<hostile>", "")
    specs = [FieldSpec(f"f{i}", n.Identifier(SPAN, name), expr_source=source)
             for i, name in enumerate(names)]
    group = compile_group(specs, name="hostile")
    _assert_clean(group.code)
    for i, name in enumerate(names):
        first, *rest = name.split(".")
        nested: Any = "found"
        for step in reversed(rest):
            nested = {step: nested}
        assert group.function({first: nested}, TS) == {f"f{i}": "found"}, name
        assert group.function({name: "flat"}, TS) == {f"f{i}": "flat"}, name


def test_hostile_backquoted_names_are_flat_keys() -> None:
    from tests.lang.test_security import _assert_clean

    names = ["a.b'c", 'a."b', "a.\\.b", "a.\nb", "data.identifiers.id"]
    group = compile_group([FieldSpec(f"f{i}", f"`{name}`") for i, name in enumerate(names)]
                          + [FieldSpec("walk", "data.identifiers.id")], name="t")
    _assert_clean(group.code)
    event = {name: i for i, name in enumerate(names)}
    assert group.apply(event) == {"f0": 0, "f1": 1, "f2": 2, "f3": 3, "f4": 4, "walk": 4}
    # a backquoted name never walks
    assert group.apply({"a": {"b'c": 1}, "data": {"identifiers": {"id": "n"}}}) == {"walk": "n"}


# Random nested events and dotted names agree with the reference walk.
_STEPS = st.sampled_from(["a", "b", "0", "1", "x.y"])
_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from(["", "s"]))
_tree = st.recursive(_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_STEPS, inner, max_size=3)), max_leaves=10)
_flat_names = st.sampled_from(["a.b", "a.0", "a.b.a", "b.1.a", "a.x"])
_events = st.builds(lambda nested, flat: {**nested, **flat},
                    st.dictionaries(_STEPS, _tree, max_size=3),
                    st.dictionaries(_flat_names, _leaf, max_size=2))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["a", "b", "0", "1"]), min_size=1, max_size=4)
                .map(".".join), min_size=1, max_size=12, unique=True), _events)
def test_paths_agree_with_the_reference_walk(names: list[str], event: dict[str, Any]) -> None:
    specs = [FieldSpec(f"f{i}", n.Identifier(SPAN, name), expr_source=Source("<p>", ""))
             for i, name in enumerate(names)]
    for threshold in (1, 1000):
        expressions._FLAT_TEST_ONCE = threshold
        try:
            out = compile_group(specs, name="p").function(event, TS)
        finally:
            expressions._FLAT_TEST_ONCE = FLAT_TEST_ONCE
        for i, name in enumerate(names):
            want = read_path(event, name, tuple(name.split(".")))
            assert out.get(f"f{i}") == (None if want in (None, "", [], {}) else want), name


# ---- inlined calls --------------------------------------------------------------------------


def test_oneof_is_inlined_and_lazy_only_when_its_arguments_cannot_fail() -> None:
    group = compile_group([FieldSpec("a", 'oneof(x, "", y, "z")'),
                           FieldSpec("b", "oneof(x, y / 0)")], name="t")
    assert _fn_local(group, "oneof") in group.code  # `b` keeps the call: y / 0 must count
    assert group.code.count(f"{_fn_local(group, 'oneof')}(") == 1
    assert group.apply({"x": "x", "y": 1}) == {"a": "x"}
    assert group.failures() == {"b": 1}
    assert group.apply({"x": "", "y": 0})["a"] == 0
    assert group.apply({"x": None, "y": ""})["a"] == "z"
    value = compile_expression('oneof(x, "", y, "z")')
    assert "oneof" not in value.code
    assert value.evaluate({"x": [], "y": 1}) == []  # an empty list is not missing
    assert value.evaluate({"x": {}, "y": 1}) == {}
    assert value.evaluate({"x": 0}) == 0
    assert value.evaluate({}) == "z"


def test_string_join_is_inlined_with_the_same_rules() -> None:
    group = compile_group([FieldSpec("e", 'object_type + "_" + metric')], name="t")
    assert group.apply({"object_type": "email", "metric": "opened"}) == {"e": "email_opened"}
    assert group.apply({"object_type": "email"}) == {}
    assert group.apply({"object_type": 1, "metric": 2}) == {}  # 1 + "_" is not a number
    assert group.failures() == {"e": 1}
    two = compile_group([FieldSpec("n", "a + b")], name="t")
    assert two.apply({"a": 1, "b": "2"}) == {"n": 3}
    assert two.apply({"a": "1", "b": "2"}) == {"n": "12"}


@pytest.mark.parametrize("value", [
    "sent", "SENT", "", "now", "now-1d", None, 5, 5.0, True, ["x", "sent"], ["x"], [],
    {"sent": 1}, {"x": 1}])
def test_in_string_constants_tests_a_string_inline_and_anything_else_as_in_does(
        value: Any) -> None:
    inline = compile_expression('x IN ("sent", "5", "now-1d", "true")')
    assert "_in(" in inline.code and " in ('sent'" in inline.code
    general = compile_expression('x IN ("sent", "5", "now-1d", "true", 0)')  # not all strings
    assert " in ('sent'" not in general.code
    assert inline.evaluate({"x": value}) is general.evaluate({"x": value})
    negated = compile_expression('x NOT IN ("sent", "5", "now-1d", "true")')
    assert negated.evaluate({"x": value}) is (not inline.evaluate({"x": value}))


def test_contains_with_a_list_literal_needle_reads_its_first_element() -> None:
    # found by the property test: the needle once became a tuple constant, as IN's list does
    assert compile_expression('(NOT null) CONTAINS ["true"]').evaluate({}) is True
    assert compile_expression('x CONTAINS ["ell"]').evaluate({"x": "hello"}) is True

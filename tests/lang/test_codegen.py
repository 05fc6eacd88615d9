"""The code generator: one function per mapping, identifiers read once, shared conditions
computed once, and the same results as the reference interpreter."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from engine.errors import ConfigError, Source
from engine.lang.compiler import CompiledGroup, FieldSpec, compile_group, compile_select
from engine.lang.parser import parse_statements
from tests.lang.reference import evaluate

ROOT = Path(__file__).resolve().parents[2]
TS = 1769420700000  # 2026-01-26T09:45:00Z


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


def test_customerio_mapping_has_the_29_seed_fields() -> None:
    group, stmt = customerio_mapping()
    assert len(group.fields) == 29
    assert stmt.by == ("cio_customer_id", "email")
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

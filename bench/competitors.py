"""The seed's 29-row Customer.io mapping expressed in other expression engines.

Each factory takes the project's email/urlmain/hash implementations and returns a candidate
`(event, ts_ms) -> output dict` plus a note for the printed table. Every row (condition and value)
is written in the engine's own language, built from the row tables in `workload.py`. Per engine
the 29 rows form one expression whose value is the list of the rows' values (null where a row does
not fire), parsed/compiled once and evaluated once per event; Python pairs the values with the
field names and drops the nulls. A list beat a map/dict result and 29 separate expressions in
every engine measured (CEL, simpleeval, JMESPath), mostly by converting fewer values back.
Output shaping an engine's language cannot express happens in Python beside it, and its note
says what.

The functions are registered with each engine wrapped in `propagate_missing`, the language's own
"missing in, missing out" rule, because these engines may hand them a null. Where an engine has
no way to bind a sub-result to a name (CEL, simpleeval, rule-engine), the hashedurls row calls
urlmain() twice: once to test it for missing, once to hash it. That only happens on clicked
events and is the engine's own cost.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any

from workload import (
    FIELDS,
    LAST_TS_ROWS,
    MS_PER_HOUR,
    SET_ROWS,
    Candidate,
    Event,
    Fn,
    Output,
    propagate_missing,
)

Factory = Callable[[Fn, Fn, Fn], tuple[Candidate, str]]


# --------------------------------------------------------------------------------------------
# CEL (`common-expression-language`, Rust core): one program returning the list of the 29 rows'
# values, null where a row does not fire; Python pairs them with the field names and drops nulls.
# Event fields are CEL variables (the ones the program references; an absent field is null).
# Measured alternatives, all slower: the event as one map variable `e` (converting a dict to a
# CEL map costs more than flat variables), a map result instead of a list (converting the map
# back costs more), 29 separate programs.
# --------------------------------------------------------------------------------------------


def _cel_rows() -> dict[str, str]:
    def present(x: str) -> str:
        return f'{x} != null && string({x}) != ""'

    rows = {
        "cio_customer_id": f"{present('customer_id')} ? customer_id : null",
        "email": "email != null ? email(email) : null",
    }
    for object_type, metric, field in LAST_TS_ROWS:
        rows[field] = f'object_type == "{object_type}" && metric == "{metric}" ? _ts : null'
    rows["last_active_ts"] = 'metric == "opened" || metric == "clicked" ? _ts : null'
    for source, field in SET_ROWS:
        rows[field] = f"{present(source)} ? [string({source})] : null"
    rows["cio_events"] = f"{present('event')} ? {{string(event): 1}} : null"
    rows["hashedurls"] = (
        "href != null && urlmain(href) != null ? {string(hash(urlmain(href))): 1} : null"
    )
    rows["cio_email_hourlyopens"] = (
        'object_type == "email" && metric == "opened"'
        f" ? {{string(_ts / {MS_PER_HOUR} % 24): 1}} : null"
    )
    return rows


def cel_candidate(email: Fn, urlmain: Fn, hash_: Fn) -> tuple[Candidate, str]:
    import cel

    rows = _cel_rows()
    assert tuple(rows) == FIELDS
    program = cel.compile("[" + ", ".join(rows.values()) + "]")
    fields = [name for name in program.variables() if name != "_ts"]
    functions = {
        "email": propagate_missing(email),
        "urlmain": propagate_missing(urlmain),
        "hash": propagate_missing(hash_),
    }
    context = cel.Context(functions=functions)
    update = context.update
    execute = program.execute

    def run(ev: Event, ts: int) -> Output:
        variables = {name: ev.get(name) for name in fields}
        variables["_ts"] = ts
        update(variables)
        return {f: v for f, v in zip(FIELDS, execute(context), strict=True) if v is not None}

    return run, "one program -> list of 29 rows; event fields as variables; Python drops nulls"


# --------------------------------------------------------------------------------------------
# simpleeval: one list expression of the 29 rows (EvalWithCompoundTypes), parsed once.
# --------------------------------------------------------------------------------------------


class _Names(dict[str, Any]):
    """Event fields as simpleeval names; an absent field reads as None (missing)."""

    def __missing__(self, key: str) -> None:
        return None


def _simpleeval_rows() -> dict[str, str]:
    def present(x: str) -> str:
        return f'{x} is not None and str({x}) != ""'

    rows = {
        "cio_customer_id": f"customer_id if {present('customer_id')} else None",
        "email": "email(email) if email is not None else None",
    }
    for object_type, metric, field in LAST_TS_ROWS:
        rows[field] = f'_ts if object_type == "{object_type}" and metric == "{metric}" else None'
    rows["last_active_ts"] = '_ts if metric == "opened" or metric == "clicked" else None'
    for source, field in SET_ROWS:
        rows[field] = f"[str({source})] if {present(source)} else None"
    rows["cio_events"] = f"{{str(event): 1}} if {present('event')} else None"
    rows["hashedurls"] = (
        "{str(hash(urlmain(href))): 1} if href is not None and urlmain(href) is not None else None"
    )
    rows["cio_email_hourlyopens"] = (
        f"{{str(_ts // {MS_PER_HOUR} % 24): 1}}"
        ' if object_type == "email" and metric == "opened" else None'
    )
    return rows


def simpleeval_candidate(email: Fn, urlmain: Fn, hash_: Fn) -> tuple[Candidate, str]:
    import simpleeval

    rows = _simpleeval_rows()
    assert tuple(rows) == FIELDS
    source = "[" + ", ".join(rows.values()) + "]"
    functions = {
        "str": str,
        "email": propagate_missing(email),
        "urlmain": propagate_missing(urlmain),
        "hash": propagate_missing(hash_),
    }
    evaluator = simpleeval.EvalWithCompoundTypes(functions=functions)
    tree = evaluator.parse(source)

    def run(ev: Event, ts: int) -> Output:
        names = _Names(ev)
        names["_ts"] = ts
        evaluator.names = names
        values = evaluator.eval(source, previously_parsed=tree)
        return {f: v for f, v in zip(FIELDS, values, strict=True) if v is not None}

    return run, "one list expression, parsed once; Python drops Nones"


# --------------------------------------------------------------------------------------------
# json-logic (json-logic-qubit): one list of 29 rules, evaluated in one jsonLogic() call.
# JsonLogic has no way to build an object, so Python makes the {key: 1} maps of the valuect rows
# and the decimal string of the hash.
# --------------------------------------------------------------------------------------------


def _var(name: str) -> dict[str, Any]:
    return {"var": name}


def _eq(name: str, value: str) -> dict[str, Any]:
    return {"==": [_var(name), value]}


def _if_present(name: str, then: Any) -> dict[str, Any]:
    # `missing` reports a field that is absent, null or "": exactly the "missing" of the spec.
    return {"if": [{"missing": [name]}, None, then]}


def _jsonlogic_rules() -> list[Any]:
    email_opened = {"and": [_eq("object_type", "email"), _eq("metric", "opened")]}
    hour = {
        "%": [
            {"/": [{"-": [_var("_ts"), {"%": [_var("_ts"), MS_PER_HOUR]}]}, MS_PER_HOUR]},
            24,
        ]
    }
    rules: list[Any] = [
        _if_present("customer_id", _var("customer_id")),
        _if_present("email", {"email": [_var("email")]}),
    ]
    for object_type, metric, _ in LAST_TS_ROWS:
        cond = {"and": [_eq("object_type", object_type), _eq("metric", metric)]}
        rules.append({"if": [cond, _var("_ts"), None]})
    opened_or_clicked = {"or": [_eq("metric", "opened"), _eq("metric", "clicked")]}
    rules.append({"if": [opened_or_clicked, _var("_ts"), None]})
    for source, _ in SET_ROWS:
        rules.append(_if_present(source, [{"cat": [_var(source)]}]))
    rules.append(_if_present("event", {"cat": [_var("event")]}))  # key of cio_events
    rules.append(_if_present("href", {"hash": [{"urlmain": [_var("href")]}]}))  # hash int
    rules.append({"if": [email_opened, {"cat": [hour]}, None]})  # key of hourlyopens
    assert len(rules) == len(FIELDS)
    # The rules are data: round-trip through JSON as a stored rule set would be.
    parsed: list[Any] = json.loads(json.dumps(rules))
    return parsed


def jsonlogic_candidate(email: Fn, urlmain: Fn, hash_: Fn) -> tuple[Candidate, str]:
    from json_logic import add_operation, jsonLogic

    add_operation("email", propagate_missing(email))
    add_operation("urlmain", propagate_missing(urlmain))
    add_operation("hash", propagate_missing(hash_))
    rules = _jsonlogic_rules()
    plain = FIELDS[:-3]  # every row but the three valuect rows

    def run(ev: Event, ts: int) -> Output:
        values = jsonLogic(rules, {**ev, "_ts": ts})
        out = {f: v for f, v in zip(plain, values, strict=False) if v is not None}
        event_key, url_hash, hour_key = values[-3:]
        if event_key is not None:
            out["cio_events"] = {event_key: 1}
        if url_hash is not None:
            out["hashedurls"] = {str(url_hash): 1}
        if hour_key is not None:
            out["cio_email_hourlyopens"] = {hour_key: 1}
        return out

    return run, "29 rules in one call; Python builds the 3 {key: 1} maps and str(hash)"


# --------------------------------------------------------------------------------------------
# JMESPath: one multi-select list of the 29 rows, compiled once; the project functions plus
# hourofday() are custom functions (JMESPath has no arithmetic). JMESPath cannot build an object
# with a computed key, so its valuect rows yield the key and Python wraps it as {key: 1}.
# --------------------------------------------------------------------------------------------


def _jmespath_rows() -> dict[str, str]:
    null = "`null`"
    rows = {
        "cio_customer_id": f"customer_id || {null}",
        "email": f"email && email(email) || {null}",
    }
    for object_type, metric, field in LAST_TS_ROWS:
        rows[field] = f"object_type == '{object_type}' && metric == '{metric}' && _ts || {null}"
    rows["last_active_ts"] = f"(metric == 'opened' || metric == 'clicked') && _ts || {null}"
    for source, field in SET_ROWS:
        rows[field] = f"{source} && [to_string({source})] || {null}"
    rows["cio_events"] = f"event || {null}"
    # a pipe binds urlmain()'s result to @, so urlmain runs once
    rows["hashedurls"] = f"href && urlmain(href) | @ && to_string(hash(@)) || {null}"
    rows["cio_email_hourlyopens"] = (
        f"object_type == 'email' && metric == 'opened' && to_string(hourofday(_ts)) || {null}"
    )
    return rows


def jmespath_candidate(email: Fn, urlmain: Fn, hash_: Fn) -> tuple[Candidate, str]:
    import jmespath
    from jmespath import functions

    email_f, urlmain_f, hash_f = (propagate_missing(f) for f in (email, urlmain, hash_))

    class ProjectFunctions(functions.Functions):
        @functions.signature({"types": ["string", "null"]})
        def _func_email(self, value: Any) -> Any:
            return email_f(value)

        @functions.signature({"types": ["string", "null"]})
        def _func_urlmain(self, value: Any) -> Any:
            return urlmain_f(value)

        @functions.signature({"types": ["string", "null"]})
        def _func_hash(self, value: Any) -> Any:
            return hash_f(value)

        @functions.signature({"types": ["number"]})
        def _func_hourofday(self, ts: int) -> int:
            return ts // MS_PER_HOUR % 24

    rows = _jmespath_rows()
    assert tuple(rows) == FIELDS
    expression = jmespath.compile("[" + ", ".join(f"({e})" for e in rows.values()) + "]")
    options = jmespath.Options(custom_functions=ProjectFunctions())
    search = expression.search
    valuect = ("cio_events", "hashedurls", "cio_email_hourlyopens")

    def run(ev: Event, ts: int) -> Output:
        values = search({**ev, "_ts": ts}, options=options)
        out = {f: v for f, v in zip(FIELDS, values, strict=True) if v is not None}
        for field in valuect:
            key = out.get(field)
            if key is not None:
                out[field] = {key: 1}
        return out

    return (
        run,
        "one multi-select list; hourofday() is a Python custom function; Python wraps {key: 1}",
    )


# --------------------------------------------------------------------------------------------
# rule-engine: one rule whose value is an array literal of the 29 rows. Its numbers are
# Decimal and its arrays tuples, so Python converts them back to int and list.
# --------------------------------------------------------------------------------------------


def _rule_engine_rows() -> dict[str, str]:
    def present(x: str) -> str:
        return f'{x} != null and {x}.to_str != ""'

    rows = {
        "cio_customer_id": f"{present('customer_id')} ? customer_id : null",
        "email": "email != null ? $email(email) : null",
    }
    for object_type, metric, field in LAST_TS_ROWS:
        rows[field] = f'object_type == "{object_type}" and metric == "{metric}" ? _ts : null'
    rows["last_active_ts"] = 'metric == "opened" or metric == "clicked" ? _ts : null'
    for source, field in SET_ROWS:
        rows[field] = f"{present(source)} ? [{source}.to_str] : null"
    rows["cio_events"] = f"{present('event')} ? {{event.to_str: 1}} : null"
    rows["hashedurls"] = (
        "href != null and $urlmain(href) != null ? {$hash($urlmain(href)).to_str: 1} : null"
    )
    rows["cio_email_hourlyopens"] = (
        f'object_type == "email" and metric == "opened" ? {{(_ts // {MS_PER_HOUR} % 24).to_str: 1}}'
        " : null"
    )
    return rows


def _int_counts(counts: Any) -> dict[str, int]:
    return {key: int(n) for key, n in counts.items()}


def rule_engine_candidate(email: Fn, urlmain: Fn, hash_: Fn) -> tuple[Candidate, str]:
    import rule_engine
    from rule_engine.builtins import Builtins
    from rule_engine.types import DataType

    def function_type(name: str) -> Any:
        # UNDEFINED return type: these functions may answer null (missing)
        return DataType.FUNCTION(
            name, return_type=DataType.UNDEFINED, argument_types=(DataType.STRING,)
        )

    context = rule_engine.Context(
        default_value=None, resolver=rule_engine.resolve_item, default_timezone="utc"
    )
    context.builtins = Builtins.from_defaults(
        {
            "email": propagate_missing(email),
            "urlmain": propagate_missing(urlmain),
            "hash": propagate_missing(hash_),
        },
        value_types={n: function_type(n) for n in ("email", "urlmain", "hash")},
        timezone=datetime.UTC,
    )
    rows = _rule_engine_rows()
    assert tuple(rows) == FIELDS
    rule = rule_engine.Rule("[" + ", ".join(f"({e})" for e in rows.values()) + "]", context=context)
    evaluate = rule.evaluate
    convert: dict[str, Callable[[Any], Any]] = {}
    for _, _, field in LAST_TS_ROWS:
        convert[field] = int
    convert["last_active_ts"] = int
    for _, field in SET_ROWS:
        convert[field] = list
    for field in ("cio_events", "hashedurls", "cio_email_hourlyopens"):
        convert[field] = _int_counts
    converters = [convert.get(field) for field in FIELDS]

    def run(ev: Event, ts: int) -> Output:
        out = {}
        values = evaluate({**ev, "_ts": ts})
        for field, conv, v in zip(FIELDS, converters, values, strict=True):
            if v is not None:
                out[field] = v if conv is None else conv(v)
        return out

    return run, "one array rule; Python converts its Decimal->int, tuple->list"


COMPETITORS: dict[str, Factory] = {
    "cel (Rust core)": cel_candidate,
    "simpleeval": simpleeval_candidate,
    "json-logic": jsonlogic_candidate,
    "jmespath": jmespath_candidate,
    "rule-engine": rule_engine_candidate,
}

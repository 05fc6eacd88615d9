"""The group function: fields, their guards and a `where`, written as one Python function.

Fields that share leading conditions nest under one ``if`` per condition (consecutive equality
tests of one value chain with ``elif``); a field that may raise gets its own ``try`` that counts
the failure. An aggregate writes one event's contribution, the way its registry entry says.
"""

from __future__ import annotations

import linecache
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.errors import Source
from engine.lang import nodes as n
from engine.lang.codegen.expressions import Generator
from engine.lang.emit import Code, Lines, present
from engine.lang.functions import Function, lookup
from engine.lang.runtime import HELPERS
from engine.lang.types import Type

Mode = Literal["value", "fields"]

@dataclass(frozen=True)
class Item:
    """One output of a group: a field (or the single value), its guard and where it came from."""

    expr: n.Expr
    field: str | None = None
    guard: n.Expr | None = None
    source: Source | None = None


@dataclass
class Generated:
    """The generated function, its source and the map from source lines to config spans."""

    function: Callable[..., Any]
    source: str
    line_map: dict[int, tuple[Source | None, n.Span]]
    errors: list[int]  # failures per field
    fields: list[str | None]
    failed: list[int] = field(default_factory=lambda: [0])  # all failures: one cell to watch
    line_fields: dict[int, str] = field(default_factory=dict)  # generated line -> its field



# Fields sharing leading conditions nest under one ``if`` per condition down to this depth;
# deeper conditions are tested flat in each field's own ``if`` (Python refuses to compile
# blocks nested about a hundred deep).
_NEST_MAX = 16


def _conjuncts(node: n.Expr | None) -> list[n.Expr]:
    if node is None:
        return []
    if isinstance(node, n.Binary) and node.op == "and":
        return _conjuncts(node.left) + _conjuncts(node.right)
    if isinstance(node, n.BoolList) and node.op == "and":
        return [c for t in node.terms for c in _conjuncts(t)]
    return [node]


@dataclass
class _Field:
    index: int
    item: Item
    conjuncts: list[n.Expr]


def generate(items: Sequence[Item], *, mode: Mode = "fields", name: str = "group",
             where: n.Expr | None = None, where_source: Source | None = None,
             include: Callable[..., Any] | None = None) -> Generated:
    """Compile `items` into one function ``f(ev, ts)``.

    ``mode="fields"`` returns ``{field: value}`` for every field whose guard holds and whose
    value is present (aggregates give their per-event contribution), or None when `where` does
    not hold; ``mode="value"`` returns the single item's value.
    """
    # The function's Python name is fixed; the user's name only labels the file name.
    g = Generator("_expression" if mode == "value" else "_mapping")
    g.namespace.update(HELPERS)
    g.namespace["str"] = str
    g.namespace["dict"] = dict
    g.namespace["Exception"] = Exception
    if include is not None:
        g.namespace["_include"] = include
    errors = [0] * len(items)
    failed = [0]
    g.namespace["_errors"] = errors
    g.namespace["_failed"] = failed
    header = f"def {g.fname}(ev, ts):"
    g.lines.append(header)
    # Guards are evaluated conjunct by conjunct, so conjuncts are what may be shared.
    roots = [r for it in items for r in (it.expr, *_conjuncts(it.guard))]
    if where is not None:
        roots.append(where)
    g.prepare(roots)
    if where is not None:
        g.current = (where_source, where.span)
        c = g.expr(where)
        test = g.truth(c)
        if c.safe:
            g.emit(1, f"if not ({test}):")
            g.emit(2, "return None")
        else:
            g.emit(1, "try:")
            g.emit(2, f"if not ({test}):")
            g.emit(3, "return None")
            g.emit(1, "except Exception:")
            g.emit(2, "return None")
    if mode == "value":
        item = items[0]
        g.current = (item.source, item.expr.span)
        value = _value_code(g, item.expr)
        g.emit(1, "try:")
        g.emit(2, f"return {value}")
        g.emit(1, "except Exception:")
        g.emit(2, "_errors[0] += 1")
        g.emit(2, "_failed[0] += 1")
        g.emit(2, "return None")
    else:
        g.emit(1, "out = {}")
        fields = [_Field(i, it, _conjuncts(it.guard)) for i, it in enumerate(items)]
        _emit_fields(g, fields, 1)
        g.emit(1, "return out")
    source = "\n".join(g.lines) + "\n"
    label = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    filename = f"<cdp-engine {label[:60]}>"
    code = compile(source, filename, "exec")
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    ns = dict(g.namespace)
    ns["__builtins__"] = {}
    exec(code, ns)
    return Generated(ns[g.fname], source, g.line_map, errors, [it.field for it in items],
                     failed, g.line_fields)


def _value_code(g: Generator, expr: n.Expr) -> str:
    """The single value of `expr`, an aggregate giving its contribution."""
    fn = lookup(expr.name) if isinstance(expr, n.Call) else None
    agg = fn.aggregate_for(len(expr.args)) if fn is not None and isinstance(expr, n.Call) else None
    if fn is not None and agg is not None and isinstance(expr, n.Call) and expr.args:
        arg = g.expr(expr.args[0])
        if agg.value is not None:
            return agg.value(g, *g.atomize(arg))
        impl = g.fn_name(fn.name, fn.impl)
        first, rest = g.atomize(arg)
        return f"(None if {first} is None else {impl}({rest}))"
    return g.expr(expr).text


def _emit_fields(g: Generator, fields: list[_Field], depth: int) -> None:
    """Emit fields, nesting those that share a leading safe condition under one ``if``."""
    if depth > _NEST_MAX:
        for f in fields:
            _emit_field(g, f, depth)
        return
    groups: dict[Any, list[_Field]] = {}
    order: list[Any] = []
    for f in fields:
        if f.conjuncts and g._safe(f.conjuncts[0]) and all(g._safe(c) for c in f.conjuncts):
            k = g.key(f.conjuncts[0])
        else:
            k = ("__direct__", f.index)
        if k not in groups:
            groups[k] = []
            order.append(k)
        groups[k].append(f)
    previous_eq: tuple[str, set[Any]] | None = None
    for k in order:
        members = groups[k]
        if isinstance(k, tuple) and k[:1] == ("__direct__",):
            previous_eq = None
            _emit_field(g, members[0], depth)
            continue
        head = members[0].conjuncts[0]
        g.current = (members[0].item.source, head.span)
        c = g.expr(head)
        test = g.truth(c)
        keyword = "if"
        if c.eq_test is not None:
            atom, value = c.eq_test
            if previous_eq is not None and previous_eq[0] == atom and value not in previous_eq[1]:
                keyword = "elif"
                previous_eq[1].add(value)
            else:
                previous_eq = (atom, {value})
        else:
            previous_eq = None
        g.emit(depth, f"{keyword} {test}:")
        rest = [_Field(f.index, f.item, f.conjuncts[1:]) for f in members]
        _emit_fields(g, rest, depth + 1)


def _emit_field(g: Generator, f: _Field, depth: int) -> None:
    first = len(g.lines) + 1
    _emit_field_lines(g, f, depth)
    if f.item.field is not None:  # which field a line evaluates, for a spent budget's reason
        g.line_fields.update(dict.fromkeys(range(first, len(g.lines) + 1), f.item.field))


def _emit_field_lines(g: Generator, f: _Field, depth: int) -> None:
    item = f.item
    g.current = (item.source, item.expr.span)
    key = repr(item.field)
    body: list[tuple[int, str]] = []
    level = 0
    safe = True
    if f.conjuncts:
        codes = [g.expr(c) for c in f.conjuncts]
        safe = all(c.safe for c in codes)
        test = g.logical("and", codes).text
        body.append((level, f"if {test}:"))
        level += 1
    expr = item.expr
    fn = lookup(expr.name) if isinstance(expr, n.Call) else None
    agg = fn.aggregate_for(len(expr.args)) if fn is not None and isinstance(expr, n.Call) else None
    if fn is not None and agg is not None and isinstance(expr, n.Call) and expr.args:
        arg = g.expr(expr.args[0])
        safe = safe and arg.safe
        first, var = g.atomize(arg)
        if first != var:
            body.append((level, f"{var} = {arg.text}"))
        body.extend((level + lvl, text) for lvl, text in _contribution(g, fn, var, arg, key))
    else:
        code = g.expr(expr)
        safe = safe and code.safe
        first, var = g.atomize(code)
        if first != var:
            body.append((level, f"{var} = {code.text}"))
        test = present(var, code)
        if code.type is Type.ANY:
            # Most values are strings: one class test, then the general presence test.
            body += [(level, f"if {var}.__class__ is str:"),
                     (level + 1, f"if {var}:"),
                     (level + 2, f"out[{key}] = {var}"),
                     (level, f"elif {test}:"),
                     (level + 1, f"out[{key}] = {var}")]
        elif test:
            body.append((level, f"if {test}:"))
            body.append((level + 1, f"out[{key}] = {var}"))
        else:
            body.append((level, f"out[{key}] = {var}"))
    if safe:
        for lvl, text in body:
            g.emit(depth + lvl, text)
        return
    g.emit(depth, "try:")
    for lvl, text in body:
        g.emit(depth + 1 + lvl, text)
    g.emit(depth, "except Exception:")
    g.emit(depth + 1, f"_errors[{f.index}] += 1")
    g.emit(depth + 1, "_failed[0] += 1")


def _contribution(g: Generator, fn: Function, var: str, arg: Code, key: str) -> Lines:
    """The statements writing one event's contribution of aggregate `fn` into ``out[key]``."""
    assert fn.aggregate is not None
    if fn.aggregate.contribution is not None:
        return fn.aggregate.contribution(g, var, arg, key)
    fname = g.fn_name(fn.name, fn.impl)
    tmp = g.fresh("_t")
    return [
        (0, f"if {var} is not None:"),
        (1, f"{tmp} = {fname}({var})"),
        (1, f"if {tmp} is not None:"),
        (2, f"out[{key}] = {tmp}"),
    ]

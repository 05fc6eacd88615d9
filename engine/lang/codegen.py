"""AST → Python source → one compiled function per group of expressions (docs/language.md).

A group is every field of a mapping (or of a stream transform), or a single expression. The
function reads each identifier of the event once into a local (the prefixes of dotted names too,
shared by every name under them), computes shared sub-expressions once, nests fields under the
conditions they share, and writes small functions inline.

Safety rules, as in Jinja's compiler: user text reaches the source only as ``repr()`` of a
plain constant; user names are string keys, never Python names (those come from a counter); the
code runs in a namespace holding only the runtime helpers and the registry's implementations;
`line_map` leads from each generated line back to the config span it came from.
"""

from __future__ import annotations

import dataclasses
import linecache
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.errors import Source
from engine.lang import nodes as n
from engine.lang.checker import infer
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


@dataclass(frozen=True)
class _Code:
    text: str
    type: Type = Type.ANY
    nullable: bool = True
    strict_bool: bool = False  # always exactly True or False
    safe: bool = True  # cannot raise
    atom: bool = False  # a local name or a constant: may be repeated freely
    const: Any = dataclasses.field(default=None)
    is_const: bool = False
    eq_test: tuple[str, Any] | None = None  # (atom, plain constant) for elif chains


_TRUE = _Code("True", Type.BOOL, False, True, True, True, True, True)


def _key(node: n.Expr, memo: dict[int, Any]) -> Any:
    """A structural key that ignores spans, so equal sub-expressions share one key."""
    found = memo.get(id(node))
    if found is not None:
        return found
    parts: list[Any] = [type(node).__name__]
    for f in dataclasses.fields(node):
        if f.name in ("span", "name_span"):
            continue
        value = getattr(node, f.name)
        if isinstance(value, n.Expr):
            parts.append(_key(value, memo))
        elif isinstance(value, tuple) and value and isinstance(value[0], n.Expr):
            parts.append(tuple(_key(v, memo) for v in value))
        else:
            parts.append((type(value).__name__, value))
    key = tuple(parts)
    memo[id(node)] = key
    return key


def infer_value(value: Any) -> Type:
    """The type of a computed constant."""
    if isinstance(value, list):
        return Type.LIST
    if isinstance(value, dict):
        return Type.MAP
    return Type.ANY


def _may_raise(node: n.Expr) -> bool:
    """Arithmetic, negation and INCLUDE can fail at run time; everything else cannot."""
    if isinstance(node, n.Binary):
        return node.op in ("+", "-", "*", "/", "%")
    if isinstance(node, n.Unary):
        return node.op == "neg"
    return isinstance(node, n.Include)


# From this many distinct dotted names on, a group tests once per event whether the event has
# any of them as a flat key (``dict.keys().isdisjoint`` runs over the smaller side), instead of
# one lookup per name.
_FLAT_TEST_ONCE = 10


# `oneof` with more arguments than this is a plain call: unrolled, each argument nests one
# conditional deeper, and Python's compiler gives up (RecursionError) in the thousands.
_UNROLL_MAX = 64
# Fields sharing leading conditions nest under one ``if`` per condition down to this depth;
# deeper conditions are tested flat in each field's own ``if`` (Python refuses to compile
# blocks nested about a hundred deep).
_NEST_MAX = 16

# Types whose values are never "" (a value that is not missing is present).
_NEVER_EMPTY = (Type.INT, Type.NUMBER, Type.BOOL, Type.DATE)


def _is_path(node: n.Identifier) -> bool:
    return not node.quoted and "." in node.name


def _height(node: n.Expr) -> int:
    kids = n.children(node)
    return 1 + max((_height(k) for k in kids), default=0)


def _conjuncts(node: n.Expr | None) -> list[n.Expr]:
    if node is None:
        return []
    if isinstance(node, n.Binary) and node.op == "and":
        return _conjuncts(node.left) + _conjuncts(node.right)
    if isinstance(node, n.BoolList) and node.op == "and":
        return [c for t in node.terms for c in _conjuncts(t)]
    return [node]


@dataclass
class _Generator:
    mode: Mode
    fname: str
    namespace: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    line_map: dict[int, tuple[Source | None, n.Span]] = field(default_factory=dict)
    line_fields: dict[int, str] = field(default_factory=dict)
    idents: dict[tuple[str, bool], str] = field(default_factory=dict)
    containers: dict[tuple[str, ...], str] = field(default_factory=dict)
    # Set when the group reads enough dotted names that one test per event for flat keys
    # spelled with dots is cheaper than one lookup per name: (local, dotted name) to patch.
    flat_once: list[tuple[str, str]] | None = None
    shared: dict[Any, _Code] = field(default_factory=dict)
    counter: int = 0
    keys: dict[int, Any] = field(default_factory=dict)
    current: tuple[Source | None, n.Span] | None = None
    _fn_names: dict[str, str] = field(default_factory=dict)

    # ---- small utilities
    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def emit(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)
        if self.current is not None:
            self.line_map[len(self.lines)] = self.current

    def bind(self, value: Any, prefix: str = "_k") -> str:
        name = self.fresh(prefix)
        self.namespace[name] = value
        return name

    def const(self, value: Any) -> _Code:
        if isinstance(value, bool) or value is None:
            return _Code(repr(value), Type.BOOL if value is not None else Type.ANY,
                         value is None, isinstance(value, bool), True, True, value, True)
        if isinstance(value, int | str) or (isinstance(value, float) and math.isfinite(value)):
            t = {int: Type.INT, str: Type.STRING, float: Type.NUMBER}[type(value)]
            return _Code(repr(value), t, False, False, True, True, value, True)
        return _Code(self.bind(value), Type.ANY, False, False, True, True, value, True)

    def fn_name(self, name: str, impl: Callable[..., Any]) -> str:
        if name not in self._fn_names:
            self._fn_names[name] = self.bind(impl, "_f")
        return self._fn_names[name]

    def key(self, node: n.Expr) -> Any:
        return _key(node, self.keys)

    # ---- identifiers and shared sub-expressions, computed once at the top
    def prepare(self, roots: Sequence[n.Expr]) -> None:
        idents = [node for root in roots for node in n.walk(root)
                  if isinstance(node, n.Identifier)]
        paths = {node.name for node in idents if _is_path(node)}
        if len(paths) >= _FLAT_TEST_ONCE:
            self.flat_once = []
        for ident in idents:
            self.ident(ident)
        if self.flat_once:
            flat = self.bind(frozenset(paths))
            self.emit(1, f"if not ev.keys().isdisjoint({flat}):")
            for local, name in self.flat_once:
                self.emit(2, f"{local} = _flat(ev, {name!r}, {local})")
        counts: dict[Any, int] = {}
        first: dict[Any, n.Expr] = {}
        for root in roots:
            for node in n.walk(root):
                if not isinstance(node, n.Identifier | n.Literal | n.ListLiteral):
                    k = self.key(node)
                    counts[k] = counts.get(k, 0) + 1
                    first.setdefault(k, node)
        # Innermost first, so a shared parent reuses its shared children.
        for k in sorted(counts, key=lambda k: _height(first[k])):
            count = counts[k]
            node = first[k]
            if count > 1 and self._safe(node) and not self._aggregate(node):
                code = self.expr(node)
                # A local compared with a constant costs what reading a hoisted local costs;
                # hoisting it would only evaluate it on paths that never need it.
                if code.atom or code.eq_test is not None:
                    continue
                name = self.fresh("_s")
                self.emit(1, f"{name} = {code.text}")
                self.shared[k] = dataclasses.replace(code, text=name, atom=True)

    def _aggregate(self, node: n.Expr) -> bool:
        fn = lookup(node.name) if isinstance(node, n.Call) else None
        return bool(fn and fn.aggregate)

    def _safe(self, node: n.Expr) -> bool:
        for sub in n.walk(node):
            if isinstance(sub, n.Call):
                fn = lookup(sub.name)
                if fn is None or not fn.safe:
                    return False
            elif isinstance(sub, n.Binary | n.Unary | n.Include) and _may_raise(sub):
                return False
        return True

    def ident(self, node: n.Identifier) -> _Code:
        if node.name == "_ts" and not node.quoted:
            return _Code("_event_date(ts)", Type.DATE, False)
        k = (node.name, node.quoted)
        if k not in self.idents:
            if not _is_path(node):
                local = self.fresh("_v")
                self.emit(1, f"{local} = ev.get({node.name!r})")
            else:
                # A dotted name: the flat key spelled with the dots wins; else walk from the
                # container of its prefix, each prefix read once for the whole group.
                *prefix, last = node.name.split(".")
                parent = self.container(tuple(prefix))
                local = self.fresh("_v")
                if self.flat_once is not None:
                    self.emit(1, f"{local} = {parent}.get({last!r})")
                    self.flat_once.append((local, node.name))
                else:
                    self.emit(1, f"{local} = ev.get({node.name!r})")
                    self.emit(1, f"if {local} is None:")
                    self.emit(2, f"{local} = {parent}.get({last!r})")
            self.idents[k] = local
        return _Code(self.idents[k], atom=True)

    def container(self, steps: tuple[str, ...]) -> str:
        """The local holding what a path prefix's next step is read from (a dict, mostly).

        Not a value: it is never handed out, only read with ``.get(step)``.
        """
        local = self.containers.get(steps)
        if local is None:
            parent = self.container(steps[:-1]) if len(steps) > 1 else "ev"
            local = self.fresh("_p")
            self.emit(1, f"{local} = {parent}.get({steps[-1]!r})")
            self.emit(1, f"if {local}.__class__ is not dict:")
            self.emit(2, f"{local} = _steps({local})")
            self.containers[steps] = local
        return local

    # ---- expressions
    def expr(self, node: n.Expr) -> _Code:
        shared = self.shared.get(self.key(node)) if self.shared else None
        if shared is not None:
            return shared
        match node:
            case n.Literal(value=value):
                return self.const(value)
            case n.ListLiteral(items=items):
                # A fresh list each time: a value handed out must never be a shared constant.
                codes = [self.expr(i) for i in items]
                inner = ", ".join(c.text for c in codes)
                return _Code(f"[{inner}]", Type.LIST, False, safe=all(c.safe for c in codes))
            case n.Identifier():
                return self.ident(node)
            case n.Call():
                return self.call(node)
            case n.Unary(op="not", operand=operand):
                c = self.expr(operand)
                return _Code(f"(not {self.truth(c)})", Type.BOOL, False, True, c.safe)
            case n.Unary(operand=operand):
                c = self.expr(operand)
                return _Code(f"_negate({c.text})", infer(node), True, safe=False)
            case n.Binary(op="and" | "or", left=left, right=right):
                return self.logical(node.op, [self.expr(left), self.expr(right)])
            case n.BoolList(op=op, terms=terms):
                if not terms:
                    return self.const(op == "and")
                return self.logical(op, [self.expr(t) for t in terms])
            case n.Binary(op="+"):
                return self.plus(node)
            case n.Binary(op=op, left=left, right=right) if op in ("-", "*", "/", "%"):
                a, b = self.expr(left), self.expr(right)
                return _Code(f"_arith({op!r}, {a.text}, {b.text})", infer(node), True, safe=False)
            case n.Binary(op=op, left=left, right=right):
                return self.comparison(op, self.expr(left), self.expr(right))
            case n.Membership(op=op, left=left, right=right, negated=negated):
                # IN / INTERSECTS take a collection; CONTAINS and LIKE a single value
                a = self.expr(left)
                b = self.items(right) if op in ("in", "intersects") else self.expr(right)
                if op in ("in", "intersects"):
                    text = f"_in({a.text}, {b.text}, ts)"
                elif op == "contains":
                    text = f"_contains({a.text}, {b.text})"
                else:
                    text = f"_like({a.text}, {b.text})"
                if negated:
                    text = f"(not {text})"
                return _Code(text, Type.BOOL, False, True, a.safe and b.safe)
            case n.Between(value=value, low=low, high=high, negated=negated):
                v, lo, hi = self.expr(value), self.expr(low), self.expr(high)
                text = f"_between({v.text}, {lo.text}, {hi.text}, ts)"
                return _Code(f"(not {text})" if negated else text, Type.BOOL, False, True,
                             v.safe and lo.safe and hi.safe)
            case n.IsNull(value=value, negated=negated):
                tested = self.expr(value)
                first, rest = self.atomize(tested)
                if negated:
                    text = f"({first} is not None and {rest} != '')"
                else:
                    text = f"({first} is None or {rest} == '')"
                return _Code(text, Type.BOOL, False, True, tested.safe)
            case n.Conditional(then=then, condition=cond, otherwise=otherwise):
                t, c, o = self.expr(then), self.expr(cond), self.expr(otherwise)
                return _Code(f"({t.text} if {self.truth(c)} else {o.text})", infer(node),
                             t.nullable or o.nullable, t.strict_bool and o.strict_bool,
                             t.safe and c.safe and o.safe)
            case n.Include(audience=name):
                return _Code(f"_include({name!r}, ev, ts)", Type.BOOL, False, True, False)
            case n.MatchAll():
                return _TRUE
        raise TypeError(f"cannot generate code for {type(node).__name__}")

    def plus(self, node: n.Binary) -> _Code:
        """``a + b + c``: joined directly when every part is a string, else through `_arith`."""
        parts = [node.right]
        left = node.left
        while (isinstance(left, n.Binary) and left.op == "+"
               and self.shared.get(self.key(left)) is None):
            parts.append(left.right)
            left = left.left
        parts.append(left)
        codes = [self.expr(p) for p in reversed(parts)]
        text = codes[0].text
        for c in codes[1:]:
            text = f"_arith('+', {text}, {c.text})"
        rtype = infer(node)
        strings = all(c.atom and (not c.is_const or isinstance(c.const, str)) for c in codes)
        tests = [f"{c.text}.__class__ is str" for c in codes if not c.is_const]
        if not strings or not tests:
            return _Code(text, rtype, True, safe=False)
        joined = " + ".join(c.text for c in codes)
        return _Code(f"({joined} if {' and '.join(tests)} else {text})", rtype, True, safe=False)

    def oneof(self, args: list[_Code], rtype: Type) -> _Code:
        """``oneof(a, b, …)`` as one conditional: the first argument present (not missing, not
        ""). Later arguments are then not evaluated, so only safe arguments come here."""
        text = "None"
        nullable = True
        tested = False
        chosen: _Code | None = None  # the argument that is the whole answer, when one is
        for a in reversed(args):
            if a.is_const and (a.const is None or a.const == ""):
                continue
            if a.is_const or (not a.nullable and a.type in _NEVER_EMPTY):
                text, nullable, tested, chosen = a.text, False, False, a
                continue
            first, rest = self.atomize(a)
            text = f"{rest} if {first} is not None and {rest} != '' else {text}"
            tested, chosen = True, None
        if not tested:  # a constant stays a constant: Python rejects `is` tests on literals
            return chosen if chosen is not None else self.const(None)
        return _Code(f"({text})", rtype, nullable)

    def items(self, node: n.Expr) -> _Code:
        """The right side of IN: a list of constants becomes one tuple constant."""
        if isinstance(node, n.ListLiteral):
            codes = [self.expr(i) for i in node.items]
            if all(c.is_const and c.text == repr(c.const) for c in codes):
                text = "(" + "".join(f"{c.text}, " for c in codes) + ")"
                return _Code(text, Type.LIST, False, atom=True)
        return self.expr(node)

    def atomize(self, code: _Code) -> tuple[str, str]:
        """The text to evaluate once (binding a temporary) and the name to reuse after.

        Constants become names too: Python rejects ``is`` tests against literals.
        """
        if code.is_const and code.const is not None and not code.text.isidentifier():
            name = self.bind(code.const)
            return name, name
        if code.atom:
            return code.text, code.text
        tmp = self.fresh("_t")
        return f"({tmp} := {code.text})", tmp

    def truth(self, code: _Code) -> str:
        """Python text that is True exactly when `code`'s value is exactly ``True``."""
        if code.strict_bool:
            return code.text
        if code.is_const:
            return repr(code.const is True)
        return f"({code.text} is True)"

    def logical(self, op: str, codes: list[_Code]) -> _Code:
        parts = [self.truth(c) for c in codes]
        return _Code("(" + f" {op} ".join(parts) + ")", Type.BOOL, False, True,
                     all(c.safe for c in codes))

    def comparison(self, op: str, a: _Code, b: _Code) -> _Code:
        eq_fn = lookup("eq")
        if op in ("=", "!=") and eq_fn is not None and eq_fn.inline is not None:
            inline = (lookup("eq") if op == "=" else lookup("ne"))
            assert inline is not None and inline.inline is not None
            text = inline.inline([a.text, b.text], [a.const, b.const]) if a.atom and b.is_const \
                else None
            if text is not None:
                return _Code(text, Type.BOOL, False, True, a.safe,
                             eq_test=(a.text, b.const) if op == "=" else None)
        helper = {"=": "_eq", "!=": "_ne", "<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge"}[op]
        return _Code(f"{helper}({a.text}, {b.text}, ts)", Type.BOOL, False, True,
                     a.safe and b.safe)

    def fold(self, fn: Function, args: list[_Code]) -> _Code | None:
        """A call on constants that needs neither the event nor its time is computed now."""
        if fn.context is not None or fn.aggregate or not all(a.is_const for a in args):
            return None
        values = [a.const for a in args]
        if fn.nulls == "propagate" and any(v is None for v in values[: fn.signature.min_args]):
            return self.const(None)
        try:
            value = fn.impl(*values)
        except Exception:
            return None
        if value is None or isinstance(value, bool | int | float | str):
            return self.const(value)
        return _Code(self.bind(value), infer_value(value), False, atom=True, const=value,
                     is_const=True)

    def call(self, node: n.Call) -> _Code:
        fn = lookup(node.name)
        if fn is None:
            raise TypeError(f"unknown function {node.name}")  # the checker reports it first
        args = [self.expr(a) for a in node.args]
        safe = fn.safe and all(a.safe for a in args)
        rtype = infer(node)
        folded = self.fold(fn, args)
        if folded is not None:
            return folded
        if fn.name == "oneof" and safe and len(args) <= _UNROLL_MAX:
            return self.oneof(args, rtype)
        if fn.inline is not None and all(a.atom for a in args):
            text = fn.inline([a.text for a in args], [a.const for a in args])
            if text is not None:
                eq_test = None
                if fn.name == "eq" and args and not args[0].is_const:
                    eq_test = (args[0].text, args[1].const)
                # A time function with no argument reads the event time, which always exists,
                # and its inline form cannot fail.
                reads_event_time = fn.context == "time" and not args
                nullable = not (fn.total or reads_event_time)
                safe = safe or reads_event_time
                return _Code(text, rtype, nullable, not nullable and rtype is Type.BOOL, safe,
                             atom=text.isidentifier(), eq_test=eq_test)
        name = self.fn_name(fn.name, fn.impl)
        lead = "ts, " if fn.context == "time" else "ev, " if fn.context == "event" else ""
        required = fn.signature.min_args
        guards: list[str] = []
        texts: list[str] = []
        for index, a in enumerate(args):
            if fn.nulls == "propagate" and index < required and a.nullable:
                first, rest = self.atomize(a)
                guards.append(f"{first} is None")
                texts.append(rest)
            else:
                texts.append(a.text)
        call_text = f"{name}({lead}{', '.join(texts)})".replace(", )", ")")
        if guards:
            text = f"(None if {' or '.join(guards)} else {call_text})"
            return _Code(text, rtype, True, False, safe)
        strict = fn.total and rtype is Type.BOOL
        return _Code(call_text, rtype, not fn.total, strict, safe)


def _present(var: str, code: _Code) -> str:
    """The test that a field's value writes something (not missing, "", [] or {})."""
    if not code.nullable and code.type in (Type.INT, Type.NUMBER, Type.BOOL, Type.DATE):
        return ""
    if code.type in (Type.INT, Type.NUMBER, Type.BOOL, Type.DATE):
        return f"{var} is not None"
    if code.type in (Type.STRING, Type.LIST, Type.MAP):
        return var
    return f"{var} is not None and {var} != '' and {var} != [] and {var} != {{}}"


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
    g = _Generator(mode, "_expression" if mode == "value" else "_mapping")
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


def _value_code(g: _Generator, expr: n.Expr) -> str:
    """The single value of `expr`, an aggregate giving its contribution."""
    fn = lookup(expr.name) if isinstance(expr, n.Call) else None
    if fn is not None and fn.aggregate and isinstance(expr, n.Call) and expr.args:
        arg = g.expr(expr.args[0])
        impl = g.fn_name(fn.name, fn.impl)
        first, rest = g.atomize(arg)
        if fn.name == "count":
            return f"(1 if {first} is not None and {rest} != '' else None)"
        return f"(None if {first} is None else {impl}({rest}))"
    return g.expr(expr).text


def _emit_fields(g: _Generator, fields: list[_Field], depth: int) -> None:
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


def _emit_field(g: _Generator, f: _Field, depth: int) -> None:
    first = len(g.lines) + 1
    _emit_field_lines(g, f, depth)
    if f.item.field is not None:  # which field a line evaluates, for a spent budget's reason
        g.line_fields.update(dict.fromkeys(range(first, len(g.lines) + 1), f.item.field))


def _emit_field_lines(g: _Generator, f: _Field, depth: int) -> None:
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
    if fn is not None and fn.aggregate and isinstance(expr, n.Call) and expr.args:
        arg = g.expr(expr.args[0])
        safe = safe and arg.safe
        first, var = g.atomize(arg)
        if first != var:
            body.append((level, f"{var} = {arg.text}"))
        body.extend(_aggregate_lines(g, fn.name, fn.impl, var, arg, key, level))
    else:
        code = g.expr(expr)
        safe = safe and code.safe
        first, var = g.atomize(code)
        if first != var:
            body.append((level, f"{var} = {code.text}"))
        test = _present(var, code)
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


def _aggregate_lines(g: _Generator, name: str, impl: Callable[..., Any], var: str, arg: _Code,
                     key: str, level: int) -> list[tuple[int, str]]:
    lines: list[tuple[int, str]] = []
    always = not arg.nullable
    if name == "count":
        if always:
            return [(level, f"out[{key}] = 1")]
        return [(level, f"if {var} is not None and {var} != '':"), (level + 1, f"out[{key}] = 1")]
    if name in ("set", "valuect"):
        def wrap(v: str) -> str:
            return f"[{v}]" if name == "set" else f"{{{v}: 1}}"

        if arg.type is Type.INT and always:
            return [(level, f"out[{key}] = {wrap(f'str({var})')}")]
        if arg.type is Type.INT:
            return [(level, f"if {var} is not None:"),
                    (level + 1, f"out[{key}] = {wrap(f'str({var})')}")]
        helper = "_setc" if name == "set" else "_valuect"
        tmp = g.fresh("_t")
        lines += [
            (level, f"if {var}.__class__ is str:"),
            (level + 1, f"if {var}:"),
            (level + 2, f"out[{key}] = {wrap(var)}"),
            (level, f"elif {var} is not None:"),
            (level + 1, f"{tmp} = {helper}({var})"),
            (level + 1, f"if {tmp} is not None:"),
            (level + 2, f"out[{key}] = {tmp}"),
        ]
        return lines
    if name in ("min", "max"):
        test = _present(var, arg)
        if not test:
            return [(level, f"out[{key}] = {var}")]
        return [(level, f"if {test}:"), (level + 1, f"out[{key}] = {var}")]
    fname = g.fn_name(name, impl)
    tmp = g.fresh("_t")
    return [
        (level, f"if {var} is not None:"),
        (level + 1, f"{tmp} = {fname}({var})"),
        (level + 1, f"if {tmp} is not None:"),
        (level + 2, f"out[{key}] = {tmp}"),
    ]

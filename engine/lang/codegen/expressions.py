"""Expressions → Python text: the half of the code generator that writes values.

`Generator` turns each node into `Code` (text plus what is known of its value: type, whether it
may be missing or raise), reads each identifier of the event once into a local (the prefixes of
dotted names too, shared by every name under them) and computes shared sub-expressions once.
A call asks the function's registry entry how to write it (constant folding, its emit hooks,
else an ordinary call guarded by the missing-value rule); no function is named here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.errors import Source
from engine.lang import nodes as n
from engine.lang.checker import infer
from engine.lang.emit import TRUE, Code
from engine.lang.functions import Function, for_operator, lookup
from engine.lang.types import Type


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


def _is_path(node: n.Identifier) -> bool:
    return not node.quoted and not node.steps and "." in node.name


def _height(node: n.Expr) -> int:
    kids = n.children(node)
    return 1 + max((_height(k) for k in kids), default=0)



@dataclass
class Generator:
    """Writes the Python text of expressions into one function named `fname`."""

    fname: str
    namespace: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    line_map: dict[int, tuple[Source | None, n.Span]] = field(default_factory=dict)
    line_fields: dict[int, str] = field(default_factory=dict)
    idents: dict[tuple[str, bool, tuple[str, ...]], str] = field(default_factory=dict)
    containers: dict[tuple[str, ...], str] = field(default_factory=dict)
    # Set when the group reads enough dotted names that one test per event for flat keys
    # spelled with dots is cheaper than one lookup per name: (local, dotted name) to patch.
    flat_once: list[tuple[str, str]] | None = None
    shared: dict[Any, Code] = field(default_factory=dict)
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

    def const(self, value: Any) -> Code:
        if isinstance(value, bool) or value is None:
            return Code(repr(value), Type.BOOL if value is not None else Type.ANY,
                        value is None, isinstance(value, bool), True, True, value, True)
        if isinstance(value, int | str) or (isinstance(value, float) and math.isfinite(value)):
            t = {int: Type.INT, str: Type.STRING, float: Type.NUMBER}[type(value)]
            return Code(repr(value), t, False, False, True, True, value, True)
        return Code(self.bind(value), Type.ANY, False, False, True, True, value, True)

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
        if not isinstance(node, n.Call) or (fn := lookup(node.name)) is None:
            return False
        return fn.aggregate_for(len(node.args)) is not None

    def _safe(self, node: n.Expr) -> bool:
        for sub in n.walk(node):
            if isinstance(sub, n.Call):
                fn = lookup(sub.name)
                if fn is None or not fn.safe:
                    return False
            elif isinstance(sub, n.Binary | n.Unary | n.Include) and _may_raise(sub):
                return False
        return True

    def ident(self, node: n.Identifier) -> Code:
        if node.name == "_ts" and not node.quoted:
            return Code("_event_date(ts)", Type.DATE, False)
        k = (node.name, node.quoted, node.steps)
        if k not in self.idents:
            if node.steps:
                # Backquoted steps: walked as written, a step's dots belong to its key.
                parent = self.container(node.steps[:-1]) if len(node.steps) > 1 else "ev"
                local = self.fresh("_v")
                self.emit(1, f"{local} = {parent}.get({node.steps[-1]!r})")
            elif not _is_path(node):
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
        return Code(self.idents[k], atom=True)

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
    def expr(self, node: n.Expr) -> Code:
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
                return Code(f"[{inner}]", Type.LIST, False, safe=all(c.safe for c in codes))
            case n.Identifier():
                return self.ident(node)
            case n.Call():
                return self.call(node)
            case n.Unary(op="not", operand=operand):
                c = self.expr(operand)
                return Code(f"(not {self.truth(c)})", Type.BOOL, False, True, c.safe)
            case n.Unary(operand=operand):
                c = self.expr(operand)
                return Code(f"_negate({c.text})", infer(node), True, safe=False)
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
                return Code(f"_arith({op!r}, {a.text}, {b.text})", infer(node), True, safe=False)
            case n.Binary(op=op, left=left, right=right):
                return self.comparison(op, self.expr(left), self.expr(right))
            case n.Membership(op=op, left=left, right=right, negated=negated):
                # IN / INTERSECTS take a collection; CONTAINS and LIKE a single value
                a = self.expr(left)
                b = self.items(right) if op in ("in", "intersects") else self.expr(right)
                if op == "in" and b.atom and self._strings(right):
                    # A string against string constants: `in_` compares them exactly, as a
                    # tuple's `in` does; other values take the general way.
                    first, var = self.atomize(a)
                    text = (f"({var} in {b.text} if {first}.__class__ is str "
                            f"else _in({var}, {b.text}, ts))")
                elif op in ("in", "intersects"):
                    text = f"_in({a.text}, {b.text}, ts)"
                elif op == "contains":
                    text = f"_contains({a.text}, {b.text})"
                else:
                    text = f"_like({a.text}, {b.text})"
                if negated:
                    text = f"(not {text})"
                return Code(text, Type.BOOL, False, True, a.safe and b.safe)
            case n.Between(value=value, low=low, high=high, negated=negated):
                v, lo, hi = self.expr(value), self.expr(low), self.expr(high)
                text = f"_between({v.text}, {lo.text}, {hi.text}, ts)"
                return Code(f"(not {text})" if negated else text, Type.BOOL, False, True,
                            v.safe and lo.safe and hi.safe)
            case n.IsNull(value=value, negated=negated):
                tested = self.expr(value)
                first, rest = self.atomize(tested)
                if negated:
                    text = f"({first} is not None and {rest} != '')"
                else:
                    text = f"({first} is None or {rest} == '')"
                return Code(text, Type.BOOL, False, True, tested.safe)
            case n.Conditional(then=then, condition=cond, otherwise=otherwise):
                t, c, o = self.expr(then), self.expr(cond), self.expr(otherwise)
                return Code(f"({t.text} if {self.truth(c)} else {o.text})", infer(node),
                            t.nullable or o.nullable, t.strict_bool and o.strict_bool,
                             t.safe and c.safe and o.safe)
            case n.Include(audience=name):
                return Code(f"_include({name!r}, ev, ts)", Type.BOOL, False, True, False)
            case n.MatchAll():
                return TRUE
        raise TypeError(f"cannot generate code for {type(node).__name__}")

    def plus(self, node: n.Binary) -> Code:
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
            return Code(text, rtype, True, safe=False)
        joined = " + ".join(c.text for c in codes)
        return Code(f"({joined} if {' and '.join(tests)} else {text})", rtype, True, safe=False)

    def items(self, node: n.Expr) -> Code:
        """The right side of IN: a list of constants becomes one tuple constant."""
        if isinstance(node, n.ListLiteral):
            codes = [self.expr(i) for i in node.items]
            if all(c.is_const and c.text == repr(c.const) for c in codes):
                text = "(" + "".join(f"{c.text}, " for c in codes) + ")"
                return Code(text, Type.LIST, False, atom=True)
        return self.expr(node)

    @staticmethod
    def _strings(node: n.Expr) -> bool:
        """Whether `node` is a list of string literals (`items` makes it a tuple constant)."""
        return (isinstance(node, n.ListLiteral) and bool(node.items)
                and all(isinstance(i, n.Literal) and i.value.__class__ is str
                        for i in node.items))

    def atomize(self, code: Code) -> tuple[str, str]:
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

    def truth(self, code: Code) -> str:
        """Python text that is True exactly when `code`'s value is exactly ``True``."""
        if code.strict_bool:
            return code.text
        if code.is_const:
            return repr(code.const is True)
        return f"({code.text} is True)"

    def logical(self, op: str, codes: list[Code]) -> Code:
        parts = [self.truth(c) for c in codes]
        return Code("(" + f" {op} ".join(parts) + ")", Type.BOOL, False, True,
                    all(c.safe for c in codes))

    def comparison(self, op: str, a: Code, b: Code) -> Code:
        fn = for_operator(op)
        if fn is not None and fn.inline is not None and a.atom and b.is_const:
            text = fn.inline([a.text, b.text], [a.const, b.const])
            if text is not None:
                return Code(text, Type.BOOL, False, True, a.safe,
                            eq_test=(a.text, b.const) if fn.equality else None)
        helper = {"=": "_eq", "!=": "_ne", "<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge"}[op]
        return Code(f"{helper}({a.text}, {b.text}, ts)", Type.BOOL, False, True,
                    a.safe and b.safe)

    def fold(self, fn: Function, args: list[Code]) -> Code | None:
        """A call on constants that needs neither the event nor its time is computed now (unless
        its answer changes from call to call)."""
        if (fn.context is not None or fn.aggregate_for(len(args)) or fn.volatile
                or not all(a.is_const for a in args)):
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
        return Code(self.bind(value), infer_value(value), False, atom=True, const=value,
                    is_const=True)

    def call(self, node: n.Call) -> Code:
        fn = lookup(node.name)
        if fn is None:
            raise TypeError(f"unknown function {node.name}")  # the checker reports it first
        args = [self.expr(a) for a in node.args]
        safe = fn.safe and all(a.safe for a in args)
        rtype = infer(node)
        folded = self.fold(fn, args)
        if folded is not None:
            return folded
        if fn.emit is not None:
            emitted = fn.emit(self, args, rtype)
            if emitted is not None:
                return emitted
        if fn.inline is not None and all(a.atom for a in args):
            text = fn.inline([a.text for a in args], [a.const for a in args])
            if text is not None:
                eq_test = None
                if fn.equality and args and not args[0].is_const:
                    eq_test = (args[0].text, args[1].const)
                # A time function with no argument reads the event time, which always exists,
                # and its inline form cannot fail.
                reads_event_time = fn.context == "time" and not args
                nullable = not (fn.total or reads_event_time)
                safe = safe or reads_event_time
                return Code(text, rtype, nullable, not nullable and rtype is Type.BOOL, safe,
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
            return Code(text, rtype, True, False, safe)
        strict = fn.total and rtype is Type.BOOL
        return Code(call_text, rtype, not fn.total, strict, safe)

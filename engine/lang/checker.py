"""The type checker: finds every problem in an expression before any event is touched.

It knows each function from the registry (existence, arity, argument types, aggregate metadata),
where aggregates may stand, and whether the value fits the field's declared type. It never stops
at the first problem: `check` returns them all, each with the span to put a caret under.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from engine.errors import Diagnostic, Source, unknown
from engine.lang import nodes as n
from engine.lang.dates import relative_problem
from engine.lang.functions import FUNCTIONS, lookup
from engine.lang.types import (
    FIELD_TYPES,
    LIST_FIELD_TYPES,
    SCALAR_FIELD_TYPES,
    SCALARS,
    Type,
    accepts,
)
from engine.lang.values import to_bool, to_date, to_float

Context = Literal["expression", "mapping", "condition", "transform", "filter"]

_LOGICAL = frozenset({"and", "or", "=", "!=", "<", "<=", ">", ">="})
_COMPARISONS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_READS_DATES = frozenset({Type.DATE, Type.ANY})


def infer(node: n.Expr) -> Type:
    """The static type of an expression; ``ANY`` where only the event can tell."""
    match node:
        case n.Literal(value=v):
            if isinstance(v, bool):
                return Type.BOOL
            if isinstance(v, int):
                return Type.INT
            if isinstance(v, float):
                return Type.NUMBER
            if isinstance(v, str):
                return Type.STRING
            return Type.ANY
        case n.ListLiteral():
            return Type.LIST
        case n.Identifier(name=name, quoted=quoted):
            return Type.DATE if name == "_ts" and not quoted else Type.ANY
        case n.Call(name=name, args=args):
            fn = lookup(name)
            if fn is None:
                return Type.ANY
            if fn.keeps_type and args:
                inner = infer(args[0])
                return inner if inner in SCALARS else Type.ANY
            return fn.signature.returns
        case n.Unary(op="not"):
            return Type.BOOL
        case n.Unary(operand=operand):
            return Type.INT if infer(operand) is Type.INT else Type.NUMBER
        case n.Binary(op=op, left=left, right=right):
            if op in _LOGICAL:
                return Type.BOOL
            lt, rt = infer(left), infer(right)
            if op == "+" and lt is Type.STRING and rt is Type.STRING:
                return Type.STRING
            if Type.ANY in (lt, rt):
                return Type.ANY
            return Type.INT if lt is Type.INT and rt is Type.INT and op != "/" else Type.NUMBER
        case n.Conditional(then=then, otherwise=otherwise):
            a, b = infer(then), infer(otherwise)
            return a if a is b else Type.ANY
    return Type.BOOL  # membership, between, is null, AND(…)/OR(…), INCLUDE, *


def literal_fits(value: object, wanted: frozenset[Type]) -> bool:
    """Whether a literal can be read as one of `wanted` at run time."""
    if Type.ANY in wanted or value is None:
        return True
    if isinstance(value, str):
        if Type.STRING in wanted or Type.LIST in wanted:
            return True
        if (Type.INT in wanted or Type.NUMBER in wanted) and to_float(value) is not None:
            return True
        if Type.BOOL in wanted and to_bool(value) is not None:
            return True
        return Type.DATE in wanted and to_date(value, 0) is not None
    if isinstance(value, bool):
        return accepts(wanted, Type.BOOL)
    if isinstance(value, int):
        return accepts(wanted, Type.INT)
    if isinstance(value, float):
        return accepts(wanted, Type.NUMBER)
    return True


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


@dataclass
class _Checker:
    source: Source
    context: Context
    diagnostics: list[Diagnostic]

    def error(self, span: n.Span, code: str, message: str, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(self.source, span.start, span.end, code, message, hint))

    def visit(self, node: n.Expr, top: bool) -> None:
        if isinstance(node, n.Call):
            self.call(node, top)
        elif isinstance(node, n.Include) and self.context != "filter":
            self.error(node.span, "E106", "`INCLUDE` is only allowed in audience filters")
        elif isinstance(node, n.MatchAll) and self.context != "filter":
            self.error(node.span, "E106", "`*` is only allowed in audience filters")
        elif isinstance(node, n.Binary) and node.op in _COMPARISONS:
            self.relative_date(node.left)
            self.relative_date(node.right)
        elif isinstance(node, n.Between):
            for side in (node.value, node.low, node.high):
                self.relative_date(side)
        for child in n.children(node):
            self.visit(child, top=False)

    def relative_date(self, node: n.Expr) -> None:
        """A constant read as a date that is spelled as date math but is none (`"now-3x"`)."""
        if isinstance(node, n.Literal) and isinstance(node.value, str):
            problem = relative_problem(node.value)
            if problem is not None:
                self.error(node.span, "E110", problem)

    def call(self, node: n.Call, top: bool) -> None:
        fn = lookup(node.name)
        if fn is None:
            self.error(node.name_span, "E101", *unknown("function", node.name, FUNCTIONS))
            return
        sig = fn.signature
        count = len(node.args)
        if count < sig.min_args or (sig.max_args is not None and count > sig.max_args):
            plural = "" if sig.arity_text().endswith(" 1") else "s"
            self.error(
                node.span, "E102",
                f"`{fn.name}` takes {sig.arity_text()} argument{plural}, got {count}",
                f"usage: {fn.name}{sig.render()}",
            )
        if fn.aggregate_for(count) and not (top and self.context in ("mapping", "expression")):
            where = ("at the top of a mapping expression" if self.context in
                     ("mapping", "expression") else "in mapping expressions")
            self.error(node.name_span, "E104",
                       f"aggregate `{fn.name}` is only allowed {where}")
        for index, arg in enumerate(node.args):
            param = sig.param_for(index)
            if param is None:
                break
            if isinstance(arg, n.Literal):
                if not literal_fits(arg.value, param.types):
                    self.error(arg.span, "E103",
                               f"argument `{param.name}` of `{fn.name}` must be "
                               f"{' or '.join(sorted(t.value for t in param.types))}, "
                               f"got {_a(infer(arg).value)} {arg.value!r}")
                    continue
                if fn.context == "time" and param.types & _READS_DATES:
                    self.relative_date(arg)  # a function given the clock reads relative dates
                if fn.check_constant is not None and arg.value is not None:
                    problem = fn.check_constant(index, arg.value)
                    if problem is not None:
                        self.error(arg.span, "E109",
                                   f"argument `{param.name}` of `{fn.name}`: {problem}")
            else:
                got = infer(arg)
                if not accepts(param.types, got):
                    self.error(arg.span, "E103",
                               f"argument `{param.name}` of `{fn.name}` must be "
                               f"{' or '.join(sorted(t.value for t in param.types))}, "
                               f"got {_a(got.value)}")

    def fits_field(self, node: n.Expr, field_type: str) -> None:
        if field_type not in FIELD_TYPES:
            self.error(node.span, "E107", *unknown("field type", field_type, FIELD_TYPES))
            return
        if (isinstance(node, n.Call) and (fn := lookup(node.name))
                and (agg := fn.aggregate_for(len(node.args)))):
            allowed = agg.field_types
            if field_type not in allowed:
                self.error(node.span, "E105",
                           f"`{fn.name}(…)` cannot fill a field of type `{field_type}`",
                           f"use type {' or '.join(f'`{t}`' for t in sorted(allowed))}")
            return
        got = infer(node)
        if field_type in SCALAR_FIELD_TYPES:
            ok = got in SCALARS and accepts(frozenset({SCALAR_FIELD_TYPES[field_type]}), got)
            ok = ok or got is Type.ANY
        elif field_type in LIST_FIELD_TYPES:
            ok = got is not Type.MAP and got is not Type.BOOL
        else:
            ok = got in (Type.MAP, Type.ANY)
        if not ok:
            self.error(node.span, "E105",
                       f"this expression gives {_a(got.value)}, which cannot fill a field of "
                       f"type `{field_type}`")


def check(
    node: n.Expr,
    source: Source,
    *,
    context: Context = "expression",
    field_type: str | None = None,
) -> list[Diagnostic]:
    """Every problem in `node`, in source order."""
    checker = _Checker(source, context, [])
    checker.visit(node, top=True)
    if field_type is not None:
        checker.fits_field(node, field_type)
    return sorted(checker.diagnostics, key=lambda d: (d.start, d.code))

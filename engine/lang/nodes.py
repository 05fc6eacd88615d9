"""The abstract syntax tree: frozen dataclasses, each carrying the span of its source text.

The parser builds these from Lark's tree; every later stage (checker, code generator, config
loader, audiences) consumes only these nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Span:
    """Where a node came from: offsets into the source text and 1-based line and column."""

    start: int
    end: int
    line: int
    column: int
    end_line: int
    end_column: int

    def cover(self, other: Span) -> Span:
        first, last = (self, other) if self.start <= other.start else (other, self)
        end = self if self.end >= other.end else other
        del last
        return Span(first.start, end.end, first.line, first.column, end.end_line, end.end_column)


@dataclass(frozen=True, slots=True)
class Node:
    span: Span


@dataclass(frozen=True, slots=True)
class Expr(Node):
    pass


@dataclass(frozen=True, slots=True)
class Literal(Expr):
    value: str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class ListLiteral(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Identifier(Expr):
    """A field of the event (or profile); `_ts` is the event time. `quoted`: written in
    backquotes, so dots are part of the key rather than steps of a path. `steps`: a path with
    a backquoted step (`` `last.event`.`has.period` ``), walked step by step; `name` is then
    the steps joined with dots, for messages."""

    name: str
    quoted: bool = False
    steps: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Call(Expr):
    name: str
    args: tuple[Expr, ...]
    name_span: Span


@dataclass(frozen=True, slots=True)
class Unary(Expr):
    op: str  # "not" | "neg"
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary(Expr):
    op: str  # "and" "or" "+" "-" "*" "/" "%" "=" "!=" "<" "<=" ">" ">="
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Membership(Expr):
    op: str  # "in" | "intersects" | "contains" | "like"
    left: Expr
    right: Expr
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Between(Expr):
    value: Expr
    low: Expr
    high: Expr
    negated: bool = False


@dataclass(frozen=True, slots=True)
class IsNull(Expr):
    value: Expr
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Conditional(Expr):
    then: Expr
    condition: Expr
    otherwise: Expr


@dataclass(frozen=True, slots=True)
class BoolList(Expr):
    """FilterQL's ``AND ( … )`` / ``OR ( … )``."""

    op: str  # "and" | "or"
    terms: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Include(Expr):
    audience: str


@dataclass(frozen=True, slots=True)
class MatchAll(Expr):
    pass


@dataclass(frozen=True, slots=True)
class Column(Node):
    """One column of a SELECT: an expression and the clauses that name and guard it."""

    expr: Expr
    alias: str | None = None
    guard: Expr | None = None
    kind: str | None = None
    mergeop: str | None = None
    shortdesc: str | None = None
    longdesc: str | None = None

    @property
    def field(self) -> str | None:
        """The output field: the alias, else the name of a bare identifier."""
        if self.alias:
            return self.alias
        if isinstance(self.expr, Identifier):
            return self.expr.name
        return None


@dataclass(frozen=True, slots=True)
class Select(Node):
    columns: tuple[Column, ...]
    stream: str | None
    into: str | None
    by: tuple[str, ...]
    where: Expr | None
    alias: str | None


@dataclass(frozen=True, slots=True)
class Filter(Node):
    expr: Expr
    table: str | None
    alias: str | None


Statement = Select | Filter


def children(node: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of `node`, in source order."""
    match node:
        case ListLiteral(items=items):
            return items
        case Call(args=args):
            return args
        case Unary(operand=operand):
            return (operand,)
        case Binary(left=left, right=right) | Membership(left=left, right=right):
            return (left, right)
        case Between(value=v, low=lo, high=hi):
            return (v, lo, hi)
        case IsNull(value=v):
            return (v,)
        case Conditional(then=t, condition=c, otherwise=o):
            return (t, c, o)
        case BoolList(terms=terms):
            return terms
    return ()


def walk(node: Expr) -> Any:
    """Every node of the tree, parents before children."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))

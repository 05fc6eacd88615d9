"""AST → text: `to_source` prints an expression the parser reads back to the same tree, and
`dump` prints a compact s-expression for golden tests and debugging."""

from __future__ import annotations

import math

from engine.lang import nodes as n

_BINARY_WORDS = {"and": "AND", "or": "OR"}


def _literal(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("non-finite number has no source form")
        text = repr(value)
        return text if ("." in text or "e" in text or "inf" in text) else text + ".0"
    if isinstance(value, int):
        return str(value)
    assert isinstance(value, str)
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def _name(name: str, quoted: bool) -> str:
    return f"`{name}`" if quoted else name


def expression_text(expr: str | n.Expr) -> str:
    """An expression as config text: written text on one line, a parsed node printed."""
    return " ".join(expr.split()) if isinstance(expr, str) else to_source(expr)


def to_source(node: n.Expr) -> str:
    """Fully parenthesised source text for `node`."""
    match node:
        case n.Literal(value=value):
            if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
                return f"({_literal(value)})"
            return _literal(value)
        case n.ListLiteral(items=items):
            return "[" + ", ".join(to_source(i) for i in items) + "]"
        case n.Identifier(steps=steps) if steps:
            return ".".join(_name(step, True) for step in steps)
        case n.Identifier(name=name, quoted=quoted):
            return _name(name, quoted)
        case n.Call(name=name, args=args):
            if name == "exists" and len(args) == 1:
                # `exists` is a predicate keyword, so it only stands as an operand in parentheses
                return f"(exists {to_source(args[0])})"
            return f"{name}(" + ", ".join(to_source(a) for a in args) + ")"
        case n.Unary(op="not", operand=operand):
            return f"(NOT {to_source(operand)})"
        case n.Unary(operand=operand):
            return f"(-{to_source(operand)})"
        case n.Binary(op=op, left=left, right=right):
            return f"({to_source(left)} {_BINARY_WORDS.get(op, op)} {to_source(right)})"
        case n.Membership(op=op, left=left, right=right, negated=negated):
            word = ("NOT " if negated else "") + op.upper()
            rhs = to_source(right)
            if op in ("in", "intersects") and isinstance(right, n.ListLiteral):
                rhs = "(" + ", ".join(to_source(i) for i in right.items) + ")"
            return f"({to_source(left)} {word} {rhs})"
        case n.Between(value=value, low=low, high=high, negated=negated):
            word = "NOT BETWEEN" if negated else "BETWEEN"
            return f"({to_source(value)} {word} {to_source(low)} AND {to_source(high)})"
        case n.IsNull(value=value, negated=negated):
            return f"({to_source(value)} IS {'NOT ' if negated else ''}NULL)"
        case n.Conditional(then=then, condition=cond, otherwise=otherwise):
            return f"({to_source(then)} IF {to_source(cond)} ELSE {to_source(otherwise)})"
        case n.BoolList(op=op, terms=terms):
            return f"{op.upper()}(" + ", ".join(to_source(t) for t in terms) + ")"
        case n.Include(audience=name):
            return f"(INCLUDE `{name}`)"
        case n.MatchAll():
            return "*"
    raise TypeError(f"cannot print {type(node).__name__}")


def dump(node: n.Expr) -> str:
    """A compact s-expression of `node`, spans left out."""
    match node:
        case n.Literal(value=value):
            return _literal(value)
        case n.ListLiteral(items=items):
            return "(list" + "".join(" " + dump(i) for i in items) + ")"
        case n.Identifier(steps=steps) if steps:
            return f"(ident {'.'.join(_name(step, True) for step in steps)})"
        case n.Identifier(name=name, quoted=quoted):
            return f"(ident {_name(name, quoted)})"
        case n.Call(name=name, args=args):
            return f"(call {name}" + "".join(" " + dump(a) for a in args) + ")"
        case n.Unary(op=op, operand=operand):
            return f"({op} {dump(operand)})"
        case n.Binary(op=op, left=left, right=right):
            return f"({op} {dump(left)} {dump(right)})"
        case n.Membership(op=op, left=left, right=right, negated=negated):
            return f"({'not-' if negated else ''}{op} {dump(left)} {dump(right)})"
        case n.Between(value=value, low=low, high=high, negated=negated):
            return f"({'not-' if negated else ''}between {dump(value)} {dump(low)} {dump(high)})"
        case n.IsNull(value=value, negated=negated):
            return f"({'is-not-null' if negated else 'is-null'} {dump(value)})"
        case n.Conditional(then=then, condition=cond, otherwise=otherwise):
            return f"(if {dump(cond)} {dump(then)} {dump(otherwise)})"
        case n.BoolList(op=op, terms=terms):
            return f"({op}-list" + "".join(" " + dump(t) for t in terms) + ")"
        case n.Include(audience=name):
            return f"(include {name})"
        case n.MatchAll():
            return "*"
    raise TypeError(f"cannot dump {type(node).__name__}")


def dump_statement(stmt: n.Statement) -> str:
    if isinstance(stmt, n.Filter):
        parts = [f"(filter {dump(stmt.expr)}"]
        if stmt.table:
            parts.append(f" (from {stmt.table})")
        if stmt.alias:
            parts.append(f" (alias {stmt.alias})")
        return "".join(parts) + ")"
    lines = ["(select"]
    for col in stmt.columns:
        extras = "".join(
            f" ({k} {v!r})" for k, v in (("as", col.alias), ("kind", col.kind),
                                          ("mergeop", col.mergeop), ("shortdesc", col.shortdesc),
                                          ("longdesc", col.longdesc)) if v is not None)
        guard = f" (if {dump(col.guard)})" if col.guard is not None else ""
        lines.append(f"  (column {dump(col.expr)}{extras}{guard})")
    lines.append(f"  (from {stmt.stream}) (into {stmt.into}) (by {' '.join(stmt.by)})")
    if stmt.where is not None:
        lines.append(f"  (where {dump(stmt.where)})")
    if stmt.alias:
        lines.append(f"  (alias {stmt.alias})")
    return "\n".join(lines) + ")"

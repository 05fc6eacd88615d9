"""The façade of the language: text in, a checked and compiled expression out.

Drives parser → checker → codegen, the way every caller needs them, and caches the result by
content so the same expression text is compiled once per process.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engine.errors import ConfigError, Diagnostic, Source
from engine.lang import nodes as n
from engine.lang.checker import Context, check, infer
from engine.lang.codegen import Generated, Item, generate
from engine.lang.functions import lookup
from engine.lang.parser import parse_expression
from engine.lang.types import Type
from engine.lang.values import Value, date_to_ms


def event_time_ms(event_time: datetime | None) -> int:
    """The event time as epoch ms; naive datetimes are read as UTC, None is now."""
    if event_time is None:
        event_time = datetime.now(UTC)
    elif event_time.tzinfo is None:
        event_time = event_time.replace(tzinfo=UTC)
    return date_to_ms(event_time)


class CompiledExpression:
    """One checked expression compiled to a Python function."""

    def __init__(self, text: str, node: n.Expr, generated: Generated) -> None:
        self.text = text
        self.node = node
        self.type: Type = infer(node)
        self._generated = generated
        self._function = generated.function

    @property
    def code(self) -> str:
        """The generated Python source (what ``--show-code`` prints)."""
        return self._generated.source

    @property
    def failures(self) -> int:
        """How many evaluations failed at run time (and gave missing)."""
        return self._generated.errors[0]

    def evaluate(self, event: Mapping[str, Any] | None = None, *,
                 event_time: datetime | None = None) -> Value:
        """The value for one event; None when missing. Relative dates anchor at `event_time`."""
        ev = event if isinstance(event, dict) else dict(event or {})
        return self._function(ev, event_time_ms(event_time))

    def __repr__(self) -> str:
        return f"CompiledExpression({self.text!r})"


@functools.lru_cache(maxsize=4096)
def _compile(text: str, context: Context, field_type: str | None, name: str) -> CompiledExpression:
    return _compile_source(Source(name, text), context, field_type, name)


def _compile_source(source: Source, context: Context, field_type: str | None, name: str
                    ) -> CompiledExpression:
    node = parse_expression(source)
    diagnostics = check(node, source, context=context, field_type=field_type)
    if diagnostics:
        raise ConfigError(diagnostics)
    generated = generate([Item(node, source=source)], mode="value", name=name)
    return CompiledExpression(source.text, node, generated)


def compile_expression(text: str, *, context: Context = "expression",
                       field_type: str | None = None, name: str = "<expr>",
                       source: Source | None = None) -> CompiledExpression:
    """Parse, check and compile one expression; raise `ConfigError` listing every problem.

    `source`, when given, is where `text` sits in a config file, so diagnostics point there.
    """
    if source is None:
        return _compile(text, context, field_type, name)
    return _compile_source(source, context, field_type, name)


@dataclass(frozen=True)
class FieldSpec:
    """One output field of a group: its expression, optional guard and declared type.

    `expr` and `guard` are text (parsed here, with `source` naming where it came from) or
    already-parsed nodes (from a ``.lql`` statement) together with the `source` they point into.
    """

    field: str
    expr: str | n.Expr
    guard: str | n.Expr | None = None
    type: str | None = None
    expr_source: Source | None = None
    guard_source: Source | None = None


class CompiledGroup:
    """Every field of a mapping or transform, compiled into one function of (event, ts)."""

    def __init__(self, name: str, fields: list[str], generated: Generated) -> None:
        self.name = name
        self.fields = fields
        self._generated = generated
        self.function = generated.function

    @property
    def code(self) -> str:
        return self._generated.source

    @property
    def line_map(self) -> dict[int, tuple[Source | None, n.Span]]:
        return self._generated.line_map

    @property
    def counters(self) -> list[int]:
        """The live failure counters of the fields, in field order (the code increments them)."""
        return self._generated.errors

    @property
    def failed(self) -> list[int]:
        """A live one-cell counter of every failure of the group (cheap to watch)."""
        return self._generated.failed

    def field_at(self, exc: BaseException) -> str | None:
        """The field this group's function was evaluating when `exc` was raised through it."""
        code = self.function.__code__
        tb = exc.__traceback__
        field = None
        while tb is not None:
            if tb.tb_frame.f_code is code:
                field = self._generated.line_fields.get(tb.tb_lineno, field)
            tb = tb.tb_next
        return field

    def failures(self) -> dict[str, int]:
        """Run-time failures so far, per field (only fields that failed)."""
        return {f: c for f, c in zip(self.fields, self._generated.errors, strict=True) if c}

    def apply(self, event: Mapping[str, Any], *, event_time: datetime | None = None
              ) -> dict[str, Any] | None:
        """``{field: value}`` for one event, or None when the group's `where` does not hold."""
        ev = event if isinstance(event, dict) else dict(event)
        result: dict[str, Any] | None = self.function(ev, event_time_ms(event_time))
        return result


def _parsed(text: str | n.Expr, source: Source | None, default_name: str
            ) -> tuple[n.Expr, Source]:
    if isinstance(text, n.Expr):
        assert source is not None, "a parsed node needs the source it points into"
        return text, source
    src = source or Source(default_name, text)
    return parse_expression(src), src


def compile_group(
    specs: list[FieldSpec],
    *,
    name: str,
    context: Context = "mapping",
    where: str | n.Expr | None = None,
    where_source: Source | None = None,
) -> CompiledGroup:
    """Check every field (collecting every problem) and compile them into one function."""
    diagnostics = []
    items: list[Item] = []
    for spec in specs:
        try:
            expr, esrc = _parsed(spec.expr, spec.expr_source, f"<{spec.field}>")
            diagnostics += check(expr, esrc, context=context, field_type=spec.type)
            guard = gsrc = None
            if spec.guard is not None:
                guard, gsrc = _parsed(spec.guard, spec.guard_source, f"<{spec.field} if>")
                diagnostics += check(guard, gsrc, context="condition")
        except ConfigError as exc:
            diagnostics += exc.diagnostics
            continue
        items.append(Item(expr, spec.field, guard, esrc))
    where_node = None
    if where is not None:
        try:
            where_node, where_source = _parsed(where, where_source, f"<{name} where>")
            diagnostics += check(where_node, where_source, context="condition")
        except ConfigError as exc:
            diagnostics += exc.diagnostics
    if diagnostics:
        raise ConfigError(diagnostics)
    generated = generate(items, mode="fields", name=name, where=where_node,
                         where_source=where_source)
    return CompiledGroup(name, [spec.field for spec in specs], generated)


def default_kind(expr: n.Expr) -> str:
    """The field type a column has without ``KIND``: the aggregate's, else string (as LQL)."""
    if not isinstance(expr, n.Call) or (fn := lookup(expr.name)) is None:
        return "string"
    agg = fn.aggregate_for(len(expr.args))
    if agg is not None:
        return agg.kind
    return "string"


def select_fields(stmt: n.Select, source: Source) -> list[FieldSpec]:
    """The fields of a SELECT statement, as the same specs a YAML mapping gives."""
    specs = []
    problems = []
    for col in stmt.columns:
        if col.field is None:
            problems.append(Diagnostic(source, col.span.start, col.span.end, "E108",
                                       "this column needs `AS field_name`"))
            continue
        specs.append(FieldSpec(col.field, col.expr, col.guard, col.kind or default_kind(col.expr),
                               expr_source=source, guard_source=source))
    if problems:
        raise ConfigError(problems)
    return specs


def compile_select(stmt: n.Select, source: Source) -> CompiledGroup:
    """A SELECT statement compiled exactly as the equivalent YAML mapping would be."""
    return compile_group(select_fields(stmt, source), name=stmt.alias or stmt.stream or "select",
                         where=stmt.where, where_source=source)

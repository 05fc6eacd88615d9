"""The checks of docs/config.md that look across the config, after YAML and schema are fine.

Every expression is compiled in its context (mapping fields with their declared type, so a value
that cannot fill its field is caught; transforms; conditions; audience filters), and the config
is checked for what no single file can show: references, cycles, identity fields, merge rules,
duplicate names. Nothing stops at the first problem: `check_settings` returns them all.

Expression diagnostics keep the checker's codes (E0xx syntax, E1xx meaning). Config-level
diagnostics use these codes (the loader's and the schema's included, so the table is whole):

    C001  YAML syntax error, unsupported tag
    C002  unknown key (with "did you mean")
    C003  missing required key
    C004  a value of the wrong type or outside the allowed values
    C005  duplicate key in a YAML mapping
    C006  environment variable not set, or a malformed ``${…}``
    C007  a referenced file cannot be read
    C008  a ``--set`` override that names no place in the config
    C010  duplicate name (stream, mapping, field of a mapping, audience, export, import, test)
    C011  unknown stream (``from``, mapping ``stream``, import ``stream``, test ``stream``)
    C012  unknown audience (``INCLUDE``, export ``audience``)
    C013  unknown authorization
    C014  an authorization of another provider
    C015  a cycle (``INCLUDE`` between audiences, ``from`` between streams)
    C016  a ``merge`` the field's type does not allow
    C017  a ``merge`` the field's aggregate does not allow
    C018  a ``by`` field that no row of the mapping maps
    C019  an export field (``id_field``, ``email_field``, ``extra_attributes``) no mapping maps
    C020  one field mapped with different types
    C021  ``timestamp`` or ``id`` on a derived stream (it keeps its source's) — a warning
    C022  ``capacity`` or ``keep_days`` on a field type they cannot apply to
    C023  YAML nested too deeply (aliases counted as what they stand for)
    C024  YAML with too many values (an alias bomb)
    C025  a file or a value too large
    C026  a referenced file outside the config's folder and the allowed folders
    C027  a mapping that calls a function whose answer changes from call to call (``uuid``):
          a replay will not reproduce its values — a warning
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.config.loader import read_settings
from engine.config.model import (
    FIELD_TYPES,
    MAX_EVENT_NAME_BYTES,
    AudienceSpec,
    ExportSpec,
    Expr,
    ImportSpec,
    Located,
    MappingField,
    MappingSpec,
    Settings,
    StreamSpec,
)
from engine.errors import ConfigError, Diagnostic, Severity, Source, did_you_mean, unknown
from engine.lang import nodes as n
from engine.lang.checker import Context, check
from engine.lang.compiler import FieldSpec, compile_group
from engine.lang.functions import lookup
from engine.lang.parser import parse_expression, parse_filter

# The merges each aggregate's contributions allow (docs/pipeline.md).
AGGREGATE_MERGES: dict[str, tuple[str, ...]] = {
    "max": ("max",), "min": ("min",), "count": ("sum",), "sum": ("sum",),
    "set": ("union", "latest"), "valuect": ("sum",),
}


class _Report:
    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def add(self, where: Located | None, code: str, message: str, hint: str | None = None,
            severity: Severity = "error") -> None:
        if where is None:
            return
        self.items.append(Diagnostic(where.source, where.start, where.end, code, message, hint,
                                     severity))

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.items.extend(diagnostics)


def _place(item: object, key: str) -> Located | None:
    places: Mapping[str, Located] = getattr(item, "places", {})
    return places.get(key) or getattr(item, "at", None)


def check_settings(settings: Settings) -> list[Diagnostic]:
    """Every problem of docs/config.md beyond YAML and schema, in file order."""
    report = _Report()
    _check_names(settings, report)
    _check_streams(settings, report)
    mapped = _check_mappings(settings, report)
    _check_audiences(settings, report)
    _check_integrations(settings, mapped, report)
    unique = {(d.file, d.line, d.column, d.end_line, d.end_column, d.code, d.message): d
              for d in report.items}
    return sorted(unique.values(), key=_order(settings))


def _order(settings: Settings) -> Callable[[Diagnostic], tuple[int, str, int, int, str]]:
    files = {name: i for i, name in enumerate(settings.files)}

    def key(d: Diagnostic) -> tuple[int, str, int, int, str]:
        return (files.get(d.file, len(files)), d.file, d.line, d.column, d.code)

    return key


@dataclass(frozen=True)
class Validation:
    """What `engine validate` reports: every problem, and which files were read."""

    diagnostics: list[Diagnostic]
    files: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)


def validate_config(path: str | Path, *, overrides: Mapping[str, str] | None = None,
                    environ: Mapping[str, str] | None = None,
                    extra_files: Iterable[str | Path] = (),
                    allow_paths: Iterable[str | Path] = ()) -> Validation:
    """Loading problems and check problems together, so one run reports everything."""
    settings, problems = read_settings(path, overrides=overrides, environ=environ,
                                       extra_files=extra_files, allow_paths=allow_paths)
    found = problems + check_settings(settings)
    unique = {(d.file, d.line, d.column, d.end_line, d.end_column, d.code, d.message): d
              for d in found}
    return Validation(sorted(unique.values(), key=_order(settings)), settings.files)


# --- names ---------------------------------------------------------------------------------


def _check_names(settings: Settings, report: _Report) -> None:
    sections: dict[str, Iterable[object]] = {
        "stream": settings.streams, "mapping": settings.mappings,
        "audience": settings.audiences, "export": settings.exports,
        "import": settings.imports, "test": settings.tests,
    }
    for what, items in sections.items():
        first: dict[str, Located | None] = {}
        for item in items:
            name = str(getattr(item, "name", ""))
            where = _place(item, "name")
            if name in first:
                earlier = first[name]
                hint = None
                if earlier is not None:
                    line = earlier.source.location(earlier.start)[0]
                    hint = f"first defined at {earlier.source.name}:{line}"
                report.add(where, "C010", f"duplicate {what} name `{name}`", hint)
            else:
                first[name] = where


# --- streams -------------------------------------------------------------------------------


def _check_expr(expr: Expr | None, context: Context, report: _Report,
                parse: Callable[[Source], n.Expr] = parse_expression) -> n.Expr | None:
    """Parse and check one expression; None when it does not parse."""
    if expr is None:
        return None
    try:
        node = parse(expr.source)
    except ConfigError as exc:
        report.extend(exc.diagnostics)
        return None
    report.extend(check(node, expr.source, context=context))
    return node


def _check_streams(settings: Settings, report: _Report) -> None:
    streams = {s.name: s for s in settings.streams}
    for stream in settings.streams:
        _check_expr(stream.timestamp, "transform", report)
        _check_expr(stream.id, "transform", report)
        if stream.from_ is None:
            continue
        for key in ("timestamp", "id"):
            if getattr(stream, key) is not None:
                report.add(_place(stream, key), "C021",
                           f"`{key}` has no effect on a derived stream",
                           "a derived event keeps its source's event time and id",
                           severity="warning")
        if stream.from_ not in streams:
            report.add(_place(stream, "from"), "C011",
                       *unknown("stream", stream.from_, streams))
        try:
            compile_group(list(stream.fields), name=stream.name, context="transform",
                          where=None if stream.where is None else stream.where.text,
                          where_source=None if stream.where is None else stream.where.source)
        except ConfigError as exc:
            report.extend(exc.diagnostics)
    _check_stream_cycles(streams, report)


def _check_stream_cycles(streams: Mapping[str, StreamSpec], report: _Report) -> None:
    reported: set[str] = set()
    for start in streams:
        chain = [start]
        current = streams[start].from_
        while current is not None and current in streams and current not in chain:
            chain.append(current)
            current = streams[current].from_
        if current == start and start not in reported:
            reported.update(chain)
            cycle = " → ".join([*chain, start])
            report.add(_place(streams[start], "from"), "C015",
                       f"streams derive from each other in a cycle: {cycle}")


# --- mappings ------------------------------------------------------------------------------


def _check_mappings(settings: Settings, report: _Report) -> dict[str, str]:
    """Check every mapping; return every mapped field with its type."""
    streams = {s.name for s in settings.streams}
    mapped: dict[str, tuple[str, MappingSpec]] = {}
    for mapping in settings.mappings:
        if mapping.stream not in streams:
            report.add(_place(mapping, "stream"), "C011",
                       *unknown("stream", mapping.stream, streams))
        specs = []
        seen: set[str] = set()
        for f in mapping.fields:
            if f.name in seen:
                report.add(_place(f, "field"), "C010",
                           f"field `{f.name}` is mapped twice in mapping `{mapping.name}`")
            seen.add(f.name)
            known_type = f.spec.type if f.spec.type in FIELD_TYPES else None
            specs.append(dataclasses.replace(f.spec, type=known_type))
            _check_merge(f.spec, f.merge, _place(f, "merge"), report)
            _check_retention(f, report)
            _warn_volatile(f.spec.expr, f.spec.expr_source, report)
            _warn_volatile(f.spec.guard, f.spec.guard_source, report)
            other = mapped.get(f.name)
            if (other is not None and other[0] != f.type and known_type
                    and other[0] in FIELD_TYPES):
                report.add(_place(f, "type"), "C020",
                           f"field `{f.name}` is `{f.type}` here but `{other[0]}` in mapping "
                           f"`{other[1].name}`")
            elif other is None:
                mapped[f.name] = (f.type, mapping)
        try:
            compile_group(specs, name=mapping.name, context="mapping")
        except ConfigError as exc:
            report.extend(exc.diagnostics)
        for i, by in enumerate(mapping.by):
            if by not in seen:
                report.add(_place(mapping, f"by.{i}"), "C018",
                           f"identity field `{by}` is not mapped by `{mapping.name}`",
                           did_you_mean(by, seen) or "add a row with `field: " + by + "`")
    return {name: t for name, (t, _) in mapped.items()}


def _warn_volatile(expr: str | n.Expr | None, source: Source | None, report: _Report) -> None:
    """C027 at each call of a volatile function (`uuid`): profiles rebuilt by a replay would
    hold other values than the ones the first run wrote."""
    if expr is None or source is None:
        return
    if isinstance(expr, str):
        try:
            expr = parse_expression(source)
        except ConfigError:
            return  # the compile reports it
    for node in n.walk(expr):
        if isinstance(node, n.Call) and (fn := lookup(node.name)) is not None and fn.volatile:
            report.extend([Diagnostic(
                source, node.span.start, node.span.end, "C027",
                f"`{fn.name}()` gives a new value on every call: a replay will not reproduce "
                "this field", "derive the value from the event (`hash.sha256(...)`) to keep "
                "replays identical", "warning")])


def _aggregate(spec_expr: str | n.Expr, source: Source | None) -> str | None:
    if isinstance(spec_expr, n.Call):
        return spec_expr.name
    if not isinstance(spec_expr, str):
        return None
    try:
        node = parse_expression(source) if source is not None else parse_expression(spec_expr)
    except ConfigError:
        return None
    return node.name if isinstance(node, n.Call) and node.name in AGGREGATE_MERGES else None


# Types whose entries `capacity` can evict: sets and maps (a count map then keeps, per key, the
# time it was last counted, to rank it by).
_EVICTABLE = frozenset({"[]string", "[]time", "ts[]string", "map[string]int", "map[string]intsum",
                        "map[string]number", "map[string]string", "map[string]bool",
                        "map[string]time"})


def _check_retention(f: MappingField, report: _Report) -> None:
    ftype = f.spec.type or "string"
    if f.capacity is not None and ftype not in _EVICTABLE:
        report.add(_place(f, "capacity"), "C022",
                   f"`capacity` has no effect on a field of type `{ftype}`",
                   "it keeps the most recently updated entries of a set or a map")
    if f.keep_days is not None and ftype == "map[string]intsum":
        report.add(_place(f, "keep_days"), "C022",
                   "`keep_days` has no effect on a field of type `map[string]intsum`",
                   "a count sums every event ever counted, so it cannot forget old days; "
                   "bound it with `capacity`, or use map[string]int with merge max, or a set")


def _check_merge(spec: FieldSpec, merge: str | None, where: Located | None,
                 report: _Report) -> None:
    if merge is None:
        return
    ftype = spec.type or "string"
    allowed = FIELD_TYPES.get(ftype)
    if allowed is not None and merge not in allowed:
        report.add(where, "C016", f"merge `{merge}` is not allowed for a field of type `{ftype}`",
                   f"use {' or '.join(f'`{m}`' for m in allowed)}")
        return
    agg = _aggregate(spec.expr, spec.expr_source)
    if agg is not None and merge not in AGGREGATE_MERGES[agg]:
        options = " or ".join(f"`{m}`" for m in AGGREGATE_MERGES[agg])
        report.add(where, "C017", f"merge `{merge}` does not fit `{agg}(…)`",
                   f"`{agg}(…)` merges by {options}")


# --- audiences -----------------------------------------------------------------------------


def _check_audiences(settings: Settings, report: _Report) -> None:
    audiences: dict[str, AudienceSpec] = {}
    includes: dict[str, list[n.Include]] = {}
    for audience in settings.audiences:
        audiences.setdefault(audience.name, audience)  # a duplicate name is reported apart
    for audience in settings.audiences:
        node = _check_expr(audience.filter, "filter", report, parse=parse_filter)
        found = [x for x in n.walk(node) if isinstance(x, n.Include)] if node else []
        includes.setdefault(audience.name, found)
        for inc in found:
            if inc.audience not in audiences:
                report.extend([Diagnostic(audience.filter.source, inc.span.start, inc.span.end,
                                          "C012", *unknown("audience", inc.audience, audiences))])
    # cycles: depth-first search over INCLUDE edges, each cycle reported once at its first edge
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for inc in includes.get(name, []):
            target = inc.audience
            if target not in audiences:
                continue
            if state.get(target) == 1:
                cycle = [*path[path.index(target):], target] if target in path else [name, target]
                src = audiences[name].filter.source
                report.extend([Diagnostic(src, inc.span.start, inc.span.end, "C015",
                                          "audiences include each other in a cycle: "
                                          + " → ".join(cycle))])
            elif state.get(target) is None:
                visit(target, [*path, target])
        state[name] = 2

    for name in audiences:
        if name not in state:
            visit(name, [name])


# --- imports and exports -------------------------------------------------------------------


def _check_integrations(settings: Settings, mapped: Mapping[str, str], report: _Report) -> None:
    auths = {a.name: a for a in settings.authorizations}
    streams = {s.name for s in settings.streams}
    audiences = {a.name for a in settings.audiences}
    items: list[ImportSpec | ExportSpec] = [*settings.imports, *settings.exports]
    for item in items:
        auth = auths.get(item.authorization)
        if auth is None:
            message, hint = unknown("authorization", item.authorization, auths)
            report.add(_place(item, "authorization"), "C013", message,
                       hint or (
                           f"authorizations: {', '.join(sorted(auths))}" if auths else
                           "add it under `authorizations:` in the config"))
        elif auth.provider != item.provider:
            report.add(_place(item, "authorization"), "C014",
                       f"authorization `{auth.name}` is for `{auth.provider}`, not "
                       f"`{item.provider}`")
    for imp in settings.imports:
        if imp.stream not in streams:
            report.add(_place(imp, "stream"), "C011",
                       *unknown("stream", imp.stream, streams))
    for test in settings.tests:
        if test.stream not in streams:
            report.add(_place(test, "stream"), "C011",
                       *unknown("stream", test.stream, streams))
    for export in settings.exports:
        if export.audience not in audiences:
            report.add(_place(export, "audience"), "C012",
                       *unknown("audience", export.audience, audiences))
        wanted = [("id_field", export.id_field)]
        if export.email_field is not None:
            wanted.append(("email_field", export.email_field))
        wanted += [(f"extra_attributes.{i}", a) for i, a in enumerate(export.extra_attributes)]
        for key, field_name in wanted:
            if field_name not in mapped:
                report.add(_place(export, key), "C019",
                           f"`{field_name}` is not a field any mapping maps",
                           did_you_mean(field_name, mapped))
        for key, event in (("events.on_enter", export.event_on_enter),
                           ("events.on_exit", export.event_on_exit)):
            # the schema counts characters; Customer.io counts the name's UTF-8 bytes
            if len(event.encode()) > MAX_EVENT_NAME_BYTES:
                report.add(_place(export, key), "C004",
                           f"the event name is {len(event.encode())} bytes of UTF-8, over "
                           f"Customer.io's limit of {MAX_EVENT_NAME_BYTES}")

"""Streams and mappings compiled from the settings: the per-event work of the pipeline.

A raw event goes to its stream; the stream's derived streams (transforms) make new events from
it, recursively; every mapping on any of those streams turns its event into field contributions.
`Pipeline.fan_out` does all of that for one raw event and returns the contributions, so the
store-facing code (`engine.pipeline.processor`) never looks at expressions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypedDict, TypeVar

import msgspec
import orjson

from engine.config.model import AGGREGATE_MERGE, FIELD_TYPES, MappingSpec, Settings, StreamSpec
from engine.errors import ConfigError, Diagnostic
from engine.lang import budget
from engine.lang import nodes as n
from engine.lang.budget import BudgetExceeded
from engine.lang.compiler import (
    CompiledExpression,
    CompiledGroup,
    compile_expression,
    compile_group,
    event_time_ms,
)
from engine.lang.parser import parse_expression
from engine.lang.values import INT64_MAX, INT64_MIN, date_to_ms, epoch_to_date, to_date
from engine.pipeline.intake import Record, UnstorableRecord, unstorable
from engine.pipeline.merge import FieldRule, Step

Event = dict[str, Any]


class _Named(Protocol):
    @property
    def name(self) -> str: ...


S = TypeVar("S", bound=_Named)
C = TypeVar("C")


# The event times the engine can hold, as epoch ms: year 1 to year 9999, what a date can express.
MIN_EVENT_MS = -62_135_596_800_000  # 0001-01-01T00:00:00.000Z
MAX_EVENT_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def event_time_of(value: Any) -> int | None:
    """A stream's `timestamp` value as epoch ms: epoch s (10 digits), ms (13) or a date string.

    A number outside year 1–9999 is kept (held within 64 bits, so the log can store it): the
    event is logged like any other and becomes a dead letter when it is applied
    (`event_time_problem`), where an error in one event cannot fail its neighbours.
    """
    if value.__class__ is int:  # epoch seconds, or ms from 13 digits on
        ms = value if abs(value) >= 100_000_000_000 else value * 1000
        return ms if MIN_EVENT_MS <= ms <= MAX_EVENT_MS else max(INT64_MIN, min(INT64_MAX, ms))
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        d = epoch_to_date(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        try:
            return event_time_of(int(value))
        except ValueError:  # more digits than Python reads: far outside any date
            return INT64_MIN if value.strip().startswith("-") else INT64_MAX
    elif isinstance(value, datetime):
        d = value
    else:
        d = to_date(value)
    return None if d is None else date_to_ms(d)


def event_time_problem(ts: int) -> str | None:
    """Why a logged event time cannot be applied, or None when it can."""
    if MIN_EVENT_MS <= ts <= MAX_EVENT_MS:
        return None
    return f"the event time ({ts} ms since 1970) is outside year 1 to 9999"


def failure_reason(what: str, exc: BaseException) -> str:
    """A dead letter's reason for an exception: what failed, and the exception in one line."""
    text = " ".join(str(exc).split())[:300]
    return f"{what}: {type(exc).__name__}" + (f": {text}" if text else "")


def dedupe_key_of(value: Any) -> str | None:
    if value is None or isinstance(value, bool) or value == "":
        return None
    if isinstance(value, int | float | str):
        return str(value)
    return None


class _Never:
    """No value has this class: such a field's values are always normalised."""


# The class of a value that is already in its field type's stored form.
_STORED_CLASS: dict[str, type] = {"string": str, "int": int, "number": float, "bool": bool,
                                  "date": int}


_TRUSTED_AGGREGATES = {("valuect", "map[string]intsum"), ("set", "[]string")}
_TRUSTED_CLASS: dict[str, type] = {"map[string]intsum": dict, "[]string": list}


def stored_class(field_type: str, trusted: bool) -> type:
    """The class of a field's values that `fold_contribution` takes as they come: those of a
    scalar type already stored as is, and a trusted aggregate's output; a class no value has
    otherwise (always normalised)."""
    if trusted:
        return _TRUSTED_CLASS[field_type]
    return _STORED_CLASS.get(field_type, _Never)


@dataclass
class CompiledMapping:
    """One mapping: its fields compiled into one function, plus how each field merges."""

    spec: MappingSpec
    group: CompiledGroup
    rules: dict[str, FieldRule]

    trusted: frozenset[str] = frozenset()  # fields whose values need no normalising

    def __post_init__(self) -> None:
        self.function = self.group.function
        self.name = self.spec.name
        # how `fold_contribution` folds each field, as the field's merge rule declares it
        self.plan: dict[str, Step] = {f: r.step(stored_class(r.type, f in self.trusted))
                                      for f, r in self.rules.items()}

    @property
    def by(self) -> tuple[str, ...]:
        return self.spec.by

    def apply(self, event: Mapping[str, Any], *, event_time: datetime | None = None
              ) -> dict[str, Any]:
        """``{field: contribution}`` for one already-derived event, before merging."""
        return self.group.apply(event, event_time=event_time) or {}


@dataclass
class CompiledStream:
    spec: StreamSpec
    timestamp: CompiledExpression | None = None
    dedupe: CompiledExpression | None = None
    transform: CompiledGroup | None = None
    derived: list[CompiledStream] = field(default_factory=list)
    mappings: list[CompiledMapping] = field(default_factory=list)
    _readers: tuple[Any, Any] | None = field(default=None, repr=False, compare=False)
    # the key `id` and `timestamp` each read: a name, None when absent, False when not a
    # plain name (`log_records`)
    _plain_names: tuple[Any, Any] | None = field(default=None, repr=False, compare=False)
    # reads those two names from an event's bytes (`log_records`)
    _head_reader: Callable[[bytes], Event] | None = field(default=None, repr=False,
                                                           compare=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def transform_function(self) -> Callable[[Event, int], Event | None]:
        assert self.transform is not None
        return self.transform.function

    def key_and_time(self, event: Event, received_ms: int) -> tuple[str | None, int]:
        """The event's dedupe key and event time (receive time when it has none)."""
        readers = self._readers
        if readers is None:
            readers = self._readers = (_reader(self.dedupe), _reader(self.timestamp))
        read_key, read_time = readers
        key = None
        if read_key is not None:
            raw = read_key(event, received_ms)
            key = raw if raw.__class__ is str and raw else dedupe_key_of(raw)
        ts = None if read_time is None else event_time_of(read_time(event, received_ms))
        return key, received_ms if ts is None else ts

    def log_records(self, events: Iterable[tuple[Event | None, bytes]], received_ms: int
                    ) -> list[Record]:
        """Each event with its bytes as a log record: its dedupe key and event time as
        `key_and_time` reads them, checked to fit the log; `UnstorableRecord` names the first
        that does not. An event given as None is read from its bytes, a JSON object (the items
        of an array body, docs/http.md), as far as its key and time need.

        A request brings hundreds of events, and calling `key_and_time` and `unstorable` for
        each costs more than the reading itself: when `id` and `timestamp` are plain names (or
        absent), a key that is a non-empty ASCII string and a time in epoch seconds or ms are
        read here with a lookup each, and only other values go the per-event way (where an id
        or time that cannot be read leaves the event keyless at its receive time). The
        per-event way reads an unparsed event in full, with the parser the processor uses, so
        that a value only it reads one way (an integer past 64 bits) gives the same key."""
        names = self._plain_names
        if names is None:
            names = self._plain_names = (_plain_key(self.dedupe), _plain_key(self.timestamp))
        key_name: Any  # `dict.get` takes None too
        time_name: Any
        key_name, time_name = names
        if key_name is False or time_name is False:
            return [self._log_record(i, _whole(event, raw), raw, received_ms)
                    for i, (event, raw) in enumerate(events)]
        read_head = self._head_reader
        if read_head is None:
            read_head = self._head_reader = _head_reader(key_name, time_name)
        records: list[Record] = []
        append = records.append
        for event, raw in events:
            head = read_head(raw) if event is None else event
            # An absent expression's name is None, and so is what it reads: JSON keys are
            # strings.
            ts = head.get(time_name)
            if ts.__class__ is int and 0 <= ts <= MAX_EVENT_MS:
                if ts < 100_000_000_000:  # epoch seconds, as `event_time_of` reads them
                    ts *= 1000
            elif ts is None:
                ts = received_ms
            else:
                append(self._log_record(len(records), _whole(event, raw), raw, received_ms))
                continue
            key = head.get(key_name)
            if key is None or (key.__class__ is str and key and key.isascii()):
                append((key, ts, raw, None))
            else:
                append(self._log_record(len(records), _whole(event, raw), raw, received_ms))
        return records

    def _log_record(self, index: int, event: Event, raw: bytes, received_ms: int) -> Record:
        try:
            key, ts = self.key_and_time(event, received_ms)
        except Exception:  # an id or time that cannot be read: keep the event anyway
            key, ts = None, received_ms
        why = unstorable(key, ts)
        if why is not None:
            raise UnstorableRecord(index, why)
        return key, ts, raw, None


def _reader(expr: CompiledExpression | None) -> Callable[[Event, int], Any] | None:
    """How to read an expression's value from an event: a plain top-level name (the common
    case) is one dict lookup; anything else runs the compiled expression."""
    if expr is None:
        return None
    name = _plain_name(expr)
    if name is None:
        return expr._function
    return lambda event, _ts: event.get(name)


def _whole(event: Event | None, raw: bytes) -> Event:
    """The whole event: as given, or parsed from its bytes as the processor parses them."""
    return orjson.loads(raw) if event is None else event


def _head_reader(key_name: str | None, time_name: str | None) -> Callable[[bytes], Event]:
    """Decodes a JSON object's bytes into a dict of only the members named `key_name` and
    `time_name` (None: not read), skipping the rest unbuilt: about half of what parsing the
    whole event and writing it out again costs. The bytes are valid JSON already."""
    members = {name: object for name in (key_name, time_name) if name is not None}
    head = TypedDict("head", members, total=False)  # type: ignore[misc]
    decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(head)
    return decoder.decode


def _plain_key(expr: CompiledExpression | None) -> str | bool | None:
    """The key an expression reads when it is a plain name, None when there is no
    expression, False otherwise."""
    if expr is None:
        return None
    name = _plain_name(expr)
    return False if name is None else name


def _plain_name(expr: CompiledExpression) -> str | None:
    """The key an expression reads when it is one plain top-level name (the common case)."""
    node = expr.node
    if isinstance(node, n.Identifier) and "." not in node.name and node.name != "_ts":
        return node.name
    return None


# One unit of mapping work: a mapping and the contributions it made for one event.
Contribution = tuple["CompiledMapping", dict[str, Any]]


class Pipeline:
    """Every stream and mapping of a config, compiled; raises `ConfigError` with every problem."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.budget_ms = settings.pipeline.event_budget_ms
        self.budget_s = self.budget_ms / 1000
        diagnostics: list[Diagnostic] = []
        self.streams = _compile_all(settings.streams, _compile_stream, diagnostics)
        self.mappings = _compile_all(settings.mappings, _compile_mapping, diagnostics)
        if diagnostics:
            raise ConfigError(diagnostics)
        for stream in self.streams.values():
            if stream.spec.from_ is not None and stream.spec.from_ in self.streams:
                self.streams[stream.spec.from_].derived.append(stream)
        for mapping in self.mappings.values():
            if mapping.spec.stream in self.streams:
                self.streams[mapping.spec.stream].mappings.append(mapping)
        # One rule per field name, across mappings (the validator rejects conflicting types).
        self.rules: dict[str, FieldRule] = {}
        for mapping in self.mappings.values():
            for name, rule in mapping.rules.items():
                self.rules.setdefault(name, rule)

    def stream(self, name: str) -> CompiledStream | None:
        return self.streams.get(name)

    def counts_twice(self, name: str) -> bool:
        """Whether a field that an event of stream `name` can reach sums (`Rule.counts_twice`):
        applying such an event a second time would count it twice."""
        return any(rule.counts_twice for s in self.reachable(name) for m in s.mappings
                   for rule in m.rules.values())

    def reachable(self, name: str) -> list[CompiledStream]:
        """The stream and every stream derived from it, directly or not, parents first."""
        stream = self.streams.get(name)
        found: list[CompiledStream] = []
        pending = [] if stream is None else [stream]
        while pending:
            s = pending.pop(0)
            found.append(s)
            pending.extend(s.derived)
        return found

    def derive(self, stream: CompiledStream, event: Event, ts: int,
               visit: Callable[[CompiledStream, Event], None]) -> None:
        """Call `visit` for `event` on `stream` and for each event derived from it.

        Runs inside the caller's budget (`budget.limit`); a spent one names the transform.
        """
        visit(stream, event)
        for child in stream.derived:
            assert child.transform is not None
            try:
                out = child.transform.function(event, ts)
            except BudgetExceeded as exc:
                raise exc.located(f"stream {child.name}", child.transform.field_at(exc)) from None
            except Exception:  # generated code counts its own failures; never lose the event
                out = None
            if out is not None:
                self.derive(child, out, ts, visit)

    def fan_out(self, stream: CompiledStream, event: Event, ts: int) -> list[Contribution]:
        """Every mapping's contributions for one raw event and all events derived from it.

        The whole of it runs within the event budget: `BudgetExceeded` (naming the mapping or
        transform and its field) when it runs out.
        """
        state = budget.state
        state.deadline = budget.clock() + self.budget_s
        try:
            results: list[Contribution] = []
            pending = [(stream, event)]
            while pending:
                s, ev = pending.pop()
                for m in s.mappings:
                    try:
                        out = m.function(ev, ts)
                    except BudgetExceeded as exc:
                        raise exc.located(f"mapping {m.name}", m.group.field_at(exc),
                                          self.budget_ms) from None
                    if budget.clock() > state.deadline:
                        raise BudgetExceeded(self.budget_ms, f"mapping {m.name}")
                    if out:
                        results.append((m, out))
                for child in s.derived:
                    try:
                        derived = child.transform_function(ev, ts)
                    except BudgetExceeded as exc:
                        assert child.transform is not None
                        raise exc.located(f"stream {child.name}", child.transform.field_at(exc),
                                          self.budget_ms) from None
                    except Exception:  # generated code counts its own failures; never lose it
                        derived = None
                    if derived is not None:
                        pending.append((child, derived))
            return results
        finally:
            state.deadline = math.inf


FAILED_TO_EVALUATE = "failed to evaluate"  # a field failed; the event's other fields applied


class FailureWatch:
    """Tells which fields failed on the event just processed, for its dead letter.

    Generated code counts each field's failures instead of raising (one bad field must not
    lose the rest of the event). Comparing the totals after each event is cheap; only when
    they moved are the counters compared field by field, against their state at the last
    failure, which is their state before this event.
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self._groups: list[tuple[str, CompiledGroup]] = [
            *((f"stream {s.name}", s.transform) for s in pipeline.streams.values()
              if s.transform is not None),
            *((f"mapping {m.name}", m.group) for m in pipeline.mappings.values())]
        self._counters = [g.counters for _label, g in self._groups]
        self._cells = [g.failed for _label, g in self._groups]
        self._seen = [list(c) for c in self._counters]
        self._total = self._sum()

    def _sum(self) -> int:
        # A plain loop: called after every event, where a generator costs three times as much
        total = 0
        for cell in self._cells:
            total += cell[0]
        return total

    def sync(self) -> None:
        """Forget failures so far (of evaluations outside the events being watched)."""
        self._total = self._sum()
        for seen, now in zip(self._seen, self._counters, strict=True):
            seen[:] = now

    def check(self) -> str | None:
        """Why the event processed since the last call failed, or None when nothing did."""
        total = self._sum()
        if total == self._total:
            return None
        self._total = total
        reasons = []
        for (label, group), now, seen in zip(self._groups, self._counters, self._seen,
                                             strict=True):
            failed = [f or "where" for f, a, b in zip(group.fields, now, seen, strict=True)
                      if a != b]
            if failed:
                reasons.append(f"{label}: {', '.join(failed)} {FAILED_TO_EVALUATE}")
            seen[:] = now
        return "; ".join(reasons)


def _compile_all(specs: Iterable[S], compile_one: Callable[[S], C],
                 diagnostics: list[Diagnostic]) -> dict[str, C]:
    """Each spec compiled by name; the problems of all of them collected, not the first."""
    compiled: dict[str, C] = {}
    for spec in specs:
        try:
            compiled[spec.name] = compile_one(spec)
        except ConfigError as exc:
            diagnostics += exc.diagnostics
    return compiled


def _expr(text: str, source: Any, context: Any) -> CompiledExpression:
    return compile_expression(text, context=context, name=source.name, source=source)


def _compile_stream(spec: StreamSpec) -> CompiledStream:
    diagnostics: list[Diagnostic] = []
    stream = CompiledStream(spec)
    for attr, expr in (("timestamp", spec.timestamp), ("dedupe", spec.id)):
        if expr is None:
            continue
        try:
            setattr(stream, attr, _expr(expr.text, expr.source, "transform"))
        except ConfigError as exc:
            diagnostics += exc.diagnostics
    if spec.from_ is not None:
        try:
            stream.transform = compile_group(
                list(spec.fields), name=spec.name, context="transform",
                where=None if spec.where is None else spec.where.text,
                where_source=None if spec.where is None else spec.where.source)
        except ConfigError as exc:
            diagnostics += exc.diagnostics
    if diagnostics:
        raise ConfigError(diagnostics)
    return stream


def merge_for(field_type: str, expr: n.Expr | None, merge: str | None) -> str:
    """The merge op of a field: as written, else the aggregate's, else the type's default."""
    if merge is not None:
        return merge
    if isinstance(expr, n.Call) and expr.name in AGGREGATE_MERGE:
        implied = AGGREGATE_MERGE[expr.name]
        if implied in FIELD_TYPES.get(field_type, ()):
            return implied
    return FIELD_TYPES.get(field_type, ("latest",))[0]


def _compile_mapping(spec: MappingSpec) -> CompiledMapping:
    group = compile_group([f.spec for f in spec.fields], name=spec.name, context="mapping")
    rules: dict[str, FieldRule] = {}
    trusted = set()
    for f in spec.fields:
        expr = f.spec.expr
        if isinstance(expr, str):
            try:
                node: n.Expr | None = parse_expression(expr)
            except ConfigError:
                node = None
        else:
            node = expr
        merge = merge_for(f.type, node, f.merge)
        rules[f.name] = FieldRule.build(f.name, f.type, merge, f.capacity, f.keep_days)
        # `valuect()` always gives {str: 1} and `set()` a list of non-empty strings: both are
        # stored as they come
        if isinstance(node, n.Call) and (node.name, f.type) in _TRUSTED_AGGREGATES:
            trusted.add(f.name)
    return CompiledMapping(spec, group, rules, frozenset(trusted))


__all__ = ["CompiledMapping", "CompiledStream", "Pipeline", "event_time_ms"]

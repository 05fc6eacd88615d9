"""Audiences compiled: each filter (docs/audiences.md) a Python function of a profile and the clock.

A filter reads profile fields as `Profile.view` gives them (dates as datetimes), and relative
dates in it (``"now-30d"``) are anchored at the evaluation clock, so membership can change with
no event at all. For that, each audience also knows the comparisons between a field and a
relative date it holds (through ``INCLUDE`` too): from a profile's values they give the clock
readings at which the filter can flip, and the scheduler re-evaluates the profile then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.config.model import AudienceSpec
from engine.errors import ConfigError, Diagnostic
from engine.lang import nodes as n
from engine.lang.checker import check
from engine.lang.codegen import Item, generate
from engine.lang.dates import crossing_ms, relative_terms
from engine.lang.parser import parse_filter
from engine.lang.values import date_to_ms

Filter = Callable[[dict[str, Any], int], Any]
_COMPARISONS = frozenset({"=", "==", "!=", "<", "<=", ">", ">="})


@dataclass
class CompiledAudience:
    spec: AudienceSpec
    function: Filter
    clock_reads: tuple[tuple[str, str], ...]  # (field path, relative terms) it compares

    @property
    def name(self) -> str:
        return self.spec.name


class Audiences:
    """Every audience of a config, compiled; raises `ConfigError` with every problem."""

    def __init__(self, specs: Sequence[AudienceSpec]) -> None:
        self._functions: dict[str, Filter] = {}
        diagnostics: list[Diagnostic] = []
        nodes: dict[str, n.Expr] = {}
        for spec in specs:
            try:
                node = parse_filter(spec.filter.source)
            except ConfigError as exc:
                diagnostics += exc.diagnostics
                continue
            problems = check(node, spec.filter.source, context="filter")
            if problems:
                diagnostics += problems
                continue
            nodes[spec.name] = node
        if diagnostics:
            raise ConfigError(diagnostics)
        self.audiences: dict[str, CompiledAudience] = {}
        for spec in specs:
            node = nodes[spec.name]
            generated = generate([Item(node, source=spec.filter.source)], mode="value",
                                 name=f"audience {spec.name}", include=self._include)
            reads = tuple(dict.fromkeys(_clock_reads(node, nodes, set())))
            self.audiences[spec.name] = CompiledAudience(spec, generated.function, reads)
            self._functions[spec.name] = generated.function
        # The profile fields the filters read (a filter on `*` or on `_ts` reads them all).
        names = [x for node in nodes.values() for x in n.walk(node)]
        self.fields: frozenset[str] | None = None if any(
            isinstance(x, n.MatchAll) for x in names) else frozenset(
            x.steps[0] if x.steps else x.name if x.quoted else x.name.split(".")[0]
            for x in names if isinstance(x, n.Identifier))

    def _include(self, name: str, view: dict[str, Any], now: int) -> bool:
        return self._functions[name](view, now) is True

    def __iter__(self) -> Iterator[CompiledAudience]:
        return iter(self.audiences.values())

    def __len__(self) -> int:
        return len(self.audiences)

    @property
    def names(self) -> list[str]:
        return list(self.audiences)

    def members(self, view: dict[str, Any], now: int) -> list[str]:
        """The audiences a profile (as `Profile.view` gives it) is in at `now` (epoch ms), in
        config order."""
        found = []
        for name, audience in self.audiences.items():
            try:
                if audience.function(view, now) is True:
                    found.append(name)
            except Exception:  # noqa: S112 -- a filter that cannot be evaluated excludes
                continue
        return found

    def next_check(self, audience: CompiledAudience, view: Mapping[str, Any], now: int
                   ) -> int | None:
        """The first clock reading after `now` at which the audience's filter may flip for
        this profile, or None when only a profile change can flip it."""
        best = None
        for path, terms in audience.clock_reads:
            for value in _dates(_lookup(view, path)):
                at = crossing_ms(date_to_ms(value), terms)
                # the instant a strict comparison flips, and the next one for a non-strict one
                for step in (0, 1):
                    if at + step > now and (best is None or at + step < best):
                        best = at + step
        return best


def _clock_reads(node: n.Expr, nodes: Mapping[str, n.Expr], seen: set[str]
                 ) -> list[tuple[str, str]]:
    """(field, relative terms) of every comparison of a field with a relative date."""
    found: list[tuple[str, str]] = []
    for sub in n.walk(node):
        pairs: list[tuple[n.Expr, n.Expr]] = []
        if isinstance(sub, n.Binary) and sub.op in _COMPARISONS:
            pairs = [(sub.left, sub.right), (sub.right, sub.left)]
        elif isinstance(sub, n.Between):
            pairs = [(sub.value, sub.low), (sub.value, sub.high)]
        elif isinstance(sub, n.Include) and sub.audience not in seen and sub.audience in nodes:
            found += _clock_reads(nodes[sub.audience], nodes, seen | {sub.audience})
        for field, other in pairs:
            if isinstance(field, n.Identifier) and isinstance(other, n.Literal) \
                    and isinstance(other.value, str):
                terms = relative_terms(other.value)
                if terms is not None:
                    found.append((field.name, terms))
    return found


def _lookup(view: Mapping[str, Any], path: str) -> Any:
    value: Any = view.get(path)
    if value is None and "." in path:
        value = view
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
    return value


def _dates(value: Any) -> list[datetime]:
    if isinstance(value, datetime):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, datetime)]
    return []

"""A profile in memory: per-field merge states, identities, and its JSON form (docs/pipeline.md).

The stored form is one compact JSON document per profile (``{"f": states, "i": identities,
"u": newest event ms}``), so a profile is read and written in one row operation. This module
owns that format: `document` writes it and `Profile.loads` reads it, for the processor, the
bulk decoders and every reader of the store alike; the store keeps it as opaque bytes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from engine.lang.values import format_date, ms_to_date
from engine.pipeline.merge import FieldRule, State

_TIME_TYPES = frozenset({"date", "[]time", "ts[]string", "map[string]time"})


def document(fields: dict[str, State], identities: dict[str, list[str]], updated: int
             ) -> bytes:
    """A profile's stored document (a bulk decoder writes one without making a `Profile`)."""
    return orjson.dumps({"f": fields, "i": identities, "u": updated})


@dataclass
class Profile:
    id: int
    fields: dict[str, State] = field(default_factory=dict)
    identities: dict[str, list[str]] = field(default_factory=dict)
    updated: int = 0  # newest event time applied, epoch ms (deterministic, replay-safe)

    def dumps(self) -> bytes:
        return document(self.fields, self.identities, self.updated)

    @classmethod
    def loads(cls, pid: int, data: bytes | str) -> Profile:
        """The profile a stored `document` holds."""
        doc = orjson.loads(data)
        return cls(pid, doc["f"], doc["i"], doc["u"])

    def add_identity(self, name: str, value: str) -> bool:
        values = self.identities.setdefault(name, [])
        if value in values:
            return False
        values.append(value)
        return True

    def absorb(self, other: Profile, rules: Mapping[str, FieldRule]) -> None:
        """Merge `other` into this profile with each field's `combine` (docs/pipeline.md)."""
        for name, values in other.identities.items():
            for v in values:
                self.add_identity(name, v)
        for name, state in other.fields.items():
            mine = self.fields.get(name)
            if mine is None:
                self.fields[name] = state
                continue
            rule = rules.get(name)
            if rule is None:  # a field no mapping writes any more: keep the newer state
                if (state[1], state[2]) > (mine[1], mine[2]):
                    self.fields[name] = state
                continue
            self.fields[name] = rule.trim(rule.combine(mine, state))
        self.updated = max(self.updated, other.updated)

    def view(self, rules: Mapping[str, FieldRule], only: Collection[str] | None = None
             ) -> dict[str, Any]:
        """The fields as expressions see them (audience filters): dates as UTC datetimes;
        with `only`, just those fields (what the filters read)."""
        out: dict[str, Any] = {}
        fields = self.fields
        states = fields.items() if only is None else (
            (name, fields[name]) for name in only if name in fields)
        for name, state in states:
            rule = rules.get(name)
            value = state[0] if rule is None else rule.render(state, self.updated)
            if value is None:
                continue
            if rule is not None and rule.type in _TIME_TYPES:
                value = _dates_in(rule.type, value)
            out[name] = value
        return out

    def to_json(self, rules: Mapping[str, FieldRule]) -> dict[str, Any]:
        """The profile as docs/pipeline.md prints it: dates RFC 3339, sets sorted, maps as
        objects."""
        out: dict[str, Any] = {}
        for name in sorted(self.fields):
            state = self.fields[name]
            rule = rules.get(name)
            value = state[0] if rule is None else rule.render(state, self.updated)
            if value is None:
                continue
            if rule is not None:
                value = _dates_out(rule.type, value)
            out[name] = value
        out["_id"] = self.id
        out["_identities"] = {k: sorted(v) for k, v in sorted(self.identities.items())}
        out["_updated"] = format_date(ms_to_date(self.updated))
        return out


def _dates_in(field_type: str, value: Any) -> Any:
    if field_type == "date":
        return ms_to_date(value)
    if field_type == "[]time":
        return [ms_to_date(v) for v in value]
    return {k: ms_to_date(v) for k, v in value.items()}


def _dates_out(field_type: str, value: Any) -> Any:
    if field_type == "date":
        return format_date(ms_to_date(value))
    if field_type == "[]time":
        return [format_date(ms_to_date(v)) for v in value]
    if field_type in ("map[string]time", "ts[]string"):
        return {k: format_date(ms_to_date(v)) for k, v in value.items()}
    return value

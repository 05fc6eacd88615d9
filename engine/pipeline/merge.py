"""Merge rules (docs/pipeline.md): how one field's values from many events fold into a profile.

Every field of a profile is held as a *state* ``[acc, ts, tb, seq]``: `acc` is the rule's
accumulator, and ``(ts, tb)`` is the event (event time, dedupe key) that last decided it — the
winner for latest/oldest/min/max, the newest contributor for sums and unions. `seq` (the event's
position in the log) is provenance for ``profile get --explain`` only; it never takes part in a
decision, so the same set of events gives the same profile in any order. States are kept small:
a profile is read and written as one document, and its size is what ingest speed depends on.
A count map with a `capacity` has a fifth element, ``{key: event time of its newest count}``,
which its counts cannot hold and eviction ranks by; states stored without it still load.

`fold` adds one event's contribution to a state; `combine` joins two states (two profiles being
merged). Each rule is commutative and associative: ties are broken by ``(ts, tb)``, then value.

The rules are one table, `RULES`, keyed by (accumulator kind, merge op), next to the function
registry in spirit: a rule is declared there once, and every ingest path folds what it
declares (`fold_contribution`, which runs the commonest folds inline by the shape each entry
names). The merge names each field type allows are the config's (`FIELD_TYPES`), which the
validator reads.
"""

from __future__ import annotations

import builtins
import heapq
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.lang.values import (
    INT64_MAX,
    INT64_MIN,
    date_to_ms,
    to_date,
    to_float,
    to_int,
    to_str,
)

State = list[Any]  # [acc, ts, tb, seq], and [acc, ts, tb, seq, key times] for timed counts
Fold = Callable[[State | None, Any, int, str, int], State]
Combine = Callable[[State, State], State]
# A field's step in `fold_contribution`: (inline shape, the class of a value already stored
# as is, normalise, fold, trim or None, capacity or -1); `FieldRule.step` makes it.
Step = tuple[int, type, Callable[[Any], Any], Fold, Callable[[State], State] | None, int]

_MS_PER_DAY = 86_400_000
_NEVER = -1 << 62  # before any event time


# ---- normalising a contribution into the field's stored representation (dates: epoch ms)


def _norm_date(v: Any) -> int | None:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, datetime):
        return date_to_ms(v)
    d = to_date(v)
    return None if d is None else date_to_ms(d)


def _norm_bool(v: Any) -> bool | None:
    return v if isinstance(v, bool) else None


def _norm_list(v: Any) -> list[str] | None:
    if v.__class__ is list and all(x.__class__ is str and x for x in v):
        return v or None  # what `set()` gives: already a list of non-empty strings
    if isinstance(v, list):
        out = [s for s in (to_str(x) for x in v) if s]
        return out or None
    s = to_str(v)
    return [s] if s else None


def _norm_time_list(v: Any) -> list[str] | None:
    # Elements are kept as decimal epoch-ms strings: set elements are JSON object keys.
    items = v if isinstance(v, list) else [v]
    out = [str(d) for d in (_norm_date(x) for x in items) if d is not None]
    return out or None


def _norm_map(value_norm: Callable[[Any], Any]) -> Callable[[Any], dict[str, Any] | None]:
    def norm(v: Any) -> dict[str, Any] | None:
        if not isinstance(v, dict):
            return None
        out = {}
        for k, x in v.items():
            nx = value_norm(x)
            if nx is not None:
                out[str(k)] = nx
        return out or None

    return norm


NORMALISE: dict[str, Callable[[Any], Any]] = {
    "string": to_str,
    "int": to_int,
    "number": to_float,
    "bool": _norm_bool,
    "date": _norm_date,
    "[]string": _norm_list,
    "[]time": _norm_time_list,
    "ts[]string": _norm_list,
    "map[string]int": _norm_map(to_int),
    "map[string]intsum": _norm_map(to_int),
    "map[string]number": _norm_map(to_float),
    "map[string]string": _norm_map(to_str),
    "map[string]bool": _norm_map(_norm_bool),
    "map[string]time": _norm_map(_norm_date),
}


# ---- the rules


def _newer(a: State, b: State) -> bool:
    """Whether `a` was decided by a later event than `b` (event time, then dedupe key)."""
    return (a[1], a[2]) > (b[1], b[2])


def _fold_latest(state: State | None, v: Any, ts: int, tb: str, seq: int) -> State:
    if state is None or (ts, tb) > (state[1], state[2]):
        return [v, ts, tb, seq]
    return state


def _combine_latest(a: State, b: State) -> State:
    return a if _newer(a, b) or ((a[1], a[2]) == (b[1], b[2]) and _key(a[0]) >= _key(b[0])) else b


def _fold_oldest(state: State | None, v: Any, ts: int, tb: str, seq: int) -> State:
    if state is None or (ts, tb) < (state[1], state[2]):
        return [v, ts, tb, seq]
    return state


def _combine_oldest(a: State, b: State) -> State:
    return b if _newer(a, b) or ((a[1], a[2]) == (b[1], b[2]) and _key(a[0]) > _key(b[0])) else a


def _key(v: Any) -> tuple[str, Any]:
    """A total order over stored values, used only to break exact ties deterministically."""
    return (type(v).__name__, v if isinstance(v, int | float | str | bool) else repr(v))


def _fold_max(state: State | None, v: Any, ts: int, tb: str, seq: int) -> State:
    if state is None or v > state[0] or (v == state[0] and (ts, tb) > (state[1], state[2])):
        return [v, ts, tb, seq]
    return state


def _combine_max(a: State, b: State) -> State:
    if a[0] != b[0]:
        return a if a[0] > b[0] else b
    return a if not _newer(b, a) else b


def _fold_min(state: State | None, v: Any, ts: int, tb: str, seq: int) -> State:
    if state is None or v < state[0] or (v == state[0] and (ts, tb) > (state[1], state[2])):
        return [v, ts, tb, seq]
    return state


def _combine_min(a: State, b: State) -> State:
    if a[0] != b[0]:
        return a if a[0] < b[0] else b
    return a if not _newer(b, a) else b


def _stamp(state: State, ts: int, tb: str, seq: int) -> None:
    """Record the newest contributor of an accumulating state (provenance and keep_days)."""
    if (ts, tb) > (state[1], state[2]):
        state[1], state[2], state[3] = ts, tb, seq


def _join_stamp(a: State, b: State, acc: Any) -> State:
    top = a if not _newer(b, a) else b
    return [acc, top[1], top[2], top[3]]


_FLOAT_MAX = sys.float_info.max


def _bounded(total: Any) -> Any:
    """A sum kept within the range its field stores, stopping at its edge: 64 bits for an
    int, a finite number. A JSON document holds neither infinity nor integers past 64 bits;
    written anyway, such a sum came back as null, and every later event of the profile
    failed on it."""
    if total.__class__ is int:
        return max(INT64_MIN, min(INT64_MAX, total))
    return max(-_FLOAT_MAX, min(_FLOAT_MAX, total))


def _fold_sum(state: State | None, v: Any, ts: int, tb: str, seq: int) -> State:
    if state is None:
        return [v, ts, tb, seq]
    state[0] = _bounded(state[0] + v)
    _stamp(state, ts, tb, seq)
    return state


def _combine_sum(a: State, b: State) -> State:
    return _join_stamp(a, b, _bounded(a[0] + b[0]))


def _fold_set(state: State | None, v: list[Any], ts: int, tb: str, seq: int) -> State:
    # acc: the elements, in first-seen order (rendered sorted)
    if state is None:
        return [list(dict.fromkeys(v)), ts, tb, seq]
    acc = state[0]
    for e in v:
        if e not in acc:
            acc.append(e)
    _stamp(state, ts, tb, seq)
    return state


def _combine_set(a: State, b: State) -> State:
    acc = list(a[0])
    for e in b[0]:
        if e not in acc:
            acc.append(e)
    return _join_stamp(a, b, acc)


def _fold_union(state: State | None, v: list[Any], ts: int, tb: str, seq: int) -> State:
    # acc: {element: event time of its newest event}; the element itself breaks ties
    if state is None:
        return [dict.fromkeys(v, ts), ts, tb, seq]
    acc = state[0]
    get = acc.get
    for e in v:
        if get(e, _NEVER) < ts:
            acc[e] = ts
    _stamp(state, ts, tb, seq)
    return state


def _combine_union(a: State, b: State) -> State:
    acc = dict(a[0])
    for k, t in b[0].items():
        if acc.get(k, _NEVER) < t:
            acc[k] = t
    return _join_stamp(a, b, acc)


def _fold_count_map(state: State | None, v: dict[str, int], ts: int, tb: str, seq: int
                    ) -> State:
    if state is None:
        return [dict(v), ts, tb, seq]
    acc = state[0]
    for k, n in v.items():
        acc[k] = acc.get(k, 0) + n
    _stamp(state, ts, tb, seq)
    return state


def _combine_count_map(a: State, b: State) -> State:
    acc = dict(a[0])
    for k, n in b[0].items():
        acc[k] = acc.get(k, 0) + n
    return _join_stamp(a, b, acc)


def _key_times(state: State) -> dict[str, int]:
    """A timed count map's per-key times, attached to `state` if it has none.

    A state stored before the field had a `capacity` (or by an engine without timed counts)
    has no times, and one whose keys were counted while it had none lacks some: such a key is
    given the state's newest event time, the latest it can have been counted at.
    """
    if len(state) < 5:
        state.append({})
    times: dict[str, int] = state[4]
    if len(times) != len(state[0]):
        for k in state[0]:
            times.setdefault(k, state[1])
    return times


def _fold_timed_count_map(state: State | None, v: dict[str, int], ts: int, tb: str, seq: int
                          ) -> State:
    if state is None:
        return [dict(v), ts, tb, seq, dict.fromkeys(v, ts)]
    acc = state[0]
    times = _key_times(state)
    get = times.get
    for k, n in v.items():
        acc[k] = acc.get(k, 0) + n
        if get(k, _NEVER) < ts:
            times[k] = ts
    _stamp(state, ts, tb, seq)
    return state


def _combine_timed_count_map(a: State, b: State) -> State:
    joined = _combine_count_map(a, b)
    times = dict(_key_times(a))
    for k, t in _key_times(b).items():
        if times.get(k, _NEVER) < t:
            times[k] = t
    joined.append(times)
    return joined


def _per_key(better: Callable[[Any, int, str, Any, int, str], bool]) -> tuple[Fold, Combine]:
    """Map rules that decide each key on its own: acc is ``{key: [value, ts, tb]}``."""

    def fold(state: State | None, v: dict[str, Any], ts: int, tb: str, seq: int
             ) -> State:
        if state is None:
            return [{k: [x, ts, tb] for k, x in v.items()}, ts, tb, seq]
        acc = state[0]
        for k, x in v.items():
            cur = acc.get(k)
            if cur is None or better(x, ts, tb, cur[0], cur[1], cur[2]):
                acc[k] = [x, ts, tb]
        _stamp(state, ts, tb, seq)
        return state

    def combine(a: State, b: State) -> State:
        acc = {k: list(x) for k, x in a[0].items()}
        for k, x in b[0].items():
            cur = acc.get(k)
            if cur is None or better(x[0], x[1], x[2], cur[0], cur[1], cur[2]) or (
                    not better(cur[0], cur[1], cur[2], x[0], x[1], x[2])
                    and _key(x[0]) > _key(cur[0])):
                acc[k] = list(x)
        return _join_stamp(a, b, acc)

    return fold, combine


_map_latest = _per_key(lambda v, ts, tb, cv, cts, ctb: (ts, tb) > (cts, ctb))
_map_max = _per_key(lambda v, ts, tb, cv, cts, ctb: v > cv or (v == cv and (ts, tb) > (cts, ctb)))
_map_min = _per_key(lambda v, ts, tb, cv, cts, ctb: v < cv or (v == cv and (ts, tb) > (cts, ctb)))

# How `fold_contribution` runs a rule's fold inline, without a call: the shapes of the folds
# nearly every mapping uses, each the same as the fold it stands for (a property test holds
# every path to the table). CALL: the rule's fold is called. The shapes from TIMED_ADD on
# may meet a value their fold raises on and may hold a `capacity`: they are folded inside a
# `try`, as a call is, and trimmed only once over capacity.
CALL, REPLACE, APPEND, ADD, TIMED_ADD, KEY_LATEST, MAX = 0, 1, 2, 3, 4, 5, 6
_TRIMMED_INLINE = frozenset({TIMED_ADD, KEY_LATEST})  # inline even with a capacity


@dataclass(frozen=True)
class Rule:
    """One merge rule: its fold, its combine, and the inline shape of its fold (or CALL)."""

    fold: Fold
    combine: Combine
    inline: int = CALL
    # Folding one event's value a second time changes the state (a sum): a dead letter whose
    # event was applied in part cannot be applied again live (docs/pipeline.md).
    counts_twice: bool = False


# (kind, merge) -> rule. Kinds: scalar, set, countmap, map. A rule with a `_timed` variant
# uses it when the field has `capacity` or `keep_days`: it keeps the per-entry event times
# they need, which fields without them do not pay for. This table is the one place a rule is
# declared: `FieldRule.build` picks the entry, and every path folds with what it declares.
RULES: dict[tuple[str, str], Rule] = {
    ("scalar", "latest"): Rule(_fold_latest, _combine_latest, REPLACE),
    ("scalar", "oldest"): Rule(_fold_oldest, _combine_oldest),
    ("scalar", "max"): Rule(_fold_max, _combine_max, MAX),
    ("scalar", "min"): Rule(_fold_min, _combine_min),
    ("scalar", "sum"): Rule(_fold_sum, _combine_sum, counts_twice=True),
    ("set", "union"): Rule(_fold_set, _combine_set, APPEND),
    ("set", "union_timed"): Rule(_fold_union, _combine_union),  # with capacity or keep_days
    ("set", "latest"): Rule(_fold_latest, _combine_latest, REPLACE),
    ("countmap", "sum"): Rule(_fold_count_map, _combine_count_map, ADD, counts_twice=True),
    ("countmap", "sum_timed"): Rule(  # with capacity
        _fold_timed_count_map, _combine_timed_count_map, TIMED_ADD, counts_twice=True),
    ("map", "latest"): Rule(*_map_latest, KEY_LATEST),
    ("map", "max"): Rule(*_map_max),
    ("map", "min"): Rule(*_map_min),
}


def fold_contribution(fields: dict[str, State], plan: dict[str, Step], out: dict[str, Any],
                      ts: int, tb: str, seq: int) -> int:
    """Fold one mapping's contributions for one event into a profile's field states.

    This is the hot loop of every ingest path (one event, a processor batch, a bulk prefold),
    so the inline shapes of `RULES` are written out here instead of called. Returns how many
    values did not fit their field's type (each is skipped; the event becomes a dead letter).
    """
    unfit = 0
    for f, value in out.items():
        inline, expected, normalise, fold, trim, capacity = plan[f]
        if value.__class__ is not expected:
            try:
                value = normalise(value)
            except Exception:  # a value the field's type cannot hold: skip it
                unfit += 1
                continue
            if value is None:
                continue
        state = fields.get(f)
        if inline >= TIMED_ADD:
            # Each as its fold in `RULES` (comparing tuples as it does: a state of another
            # shape fails alike), then `trim` as a call would be trimmed.
            try:
                if inline == MAX:  # _fold_max
                    if state is None or value > state[0] or (
                            value == state[0] and (ts, tb) > (state[1], state[2])):
                        state = [value, ts, tb, seq]
                elif state is None:
                    if inline == TIMED_ADD:  # _fold_timed_count_map
                        state = [dict(value), ts, tb, seq, dict.fromkeys(value, ts)]
                    else:  # KEY_LATEST: _map_latest
                        state = [{k: [x, ts, tb] for k, x in value.items()}, ts, tb, seq]
                else:
                    acc = state[0]
                    if inline == TIMED_ADD:
                        times = state[4] if len(state) == 5 and len(state[4]) == len(acc) \
                            else _key_times(state)
                        for k, c in value.items():
                            acc[k] = acc.get(k, 0) + c
                            if times.get(k, _NEVER) < ts:
                                times[k] = ts
                    else:
                        for k, x in value.items():
                            cur = acc.get(k)
                            if cur is None or (ts, tb) > (cur[1], cur[2]):
                                acc[k] = [x, ts, tb]
                    if (ts, tb) > (state[1], state[2]):  # _stamp
                        state[1], state[2], state[3] = ts, tb, seq
                if capacity >= 0 and trim is not None and len(state[0]) > capacity:
                    state = trim(state)
                fields[f] = state
            except Exception:  # a value of another type than the field's: skip it
                unfit += 1
            continue
        if state is None:
            if inline:  # what the fold of each inline shape makes of a first value
                # A set or count map grows in place: it starts as a copy, as its fold makes
                # it, never as the event's own list or dict, which another field of the same
                # event may hold too (a `latest` field would then change with it).
                if inline == APPEND:
                    value = list(dict.fromkeys(value))
                elif inline == ADD:
                    value = dict(value)
                fields[f] = [value, ts, tb, seq]
                continue
        elif inline == REPLACE:  # _fold_latest
            if ts > state[1] or (ts == state[1] and tb > state[2]):
                fields[f] = [value, ts, tb, seq]
            continue
        elif inline:
            acc = state[0]
            if inline == ADD:  # _fold_count_map
                for k, c in value.items():
                    acc[k] = acc.get(k, 0) + c
            else:  # APPEND: _fold_set
                for e in value:
                    if e not in acc:
                        acc.append(e)
            if ts > state[1] or (ts == state[1] and tb > state[2]):
                state[1], state[2], state[3] = ts, tb, seq
            continue
        try:
            state = fold(state, value, ts, tb, seq)
            fields[f] = state if trim is None else trim(state)
        except Exception:  # a value of another type than the field's: skip it
            unfit += 1
    return unfit


def _as_is(value: Any) -> Any:
    return value


def prenormalised(plan: dict[str, Step]) -> dict[str, Step]:
    """A plan that folds values already normalised as `plan` would (by a bulk decoder) as
    they are: each was normalised exactly once, as `fold_contribution` does it."""
    return {f: (inline, stored, _as_is, fold, trim, capacity)
            for f, (inline, stored, _normalise, fold, trim, capacity) in plan.items()}


# A set that keeps each value's newest event time whatever its options: `ts[]string`.
_ALWAYS_TIMED = frozenset({"ts[]string"})


def kind_of(field_type: str) -> str:
    if field_type.startswith(("[]", "ts[]")):
        return "set"
    if field_type == "map[string]intsum":
        return "countmap"
    if field_type.startswith("map["):
        return "map"
    return "scalar"


@dataclass(frozen=True)
class FieldRule:
    """How one profile field merges: built once per field from its type and `merge`."""

    field: str
    type: str
    merge: str
    fold: Fold
    combine: Combine
    normalise: Callable[[Any], Any]
    capacity: int | None = None
    keep_days: int | None = None
    inline: int = CALL  # how `fold_contribution` folds it: the rule's shape, or CALL
    counts_twice: bool = False  # the rule's: folding an event again changes the state

    @classmethod
    def build(cls, field: str, field_type: str, merge: str, capacity: int | None = None,
              keep_days: int | None = None) -> FieldRule:
        kind = kind_of(field_type)
        timed = (kind, f"{merge}_timed") in RULES and (
            capacity is not None or keep_days is not None or field_type in _ALWAYS_TIMED)
        rule = RULES[(kind, f"{merge}_timed" if timed else merge)]
        # Only the shapes that trim inline stay inline with a capacity; the others call their
        # fold, then `trim`.
        inline = rule.inline if capacity is None or rule.inline in _TRIMMED_INLINE else CALL
        return cls(field, field_type, merge, rule.fold, rule.combine, NORMALISE[field_type],
                   capacity, keep_days, inline, rule.counts_twice)

    def step(self, stored: builtins.type) -> Step:
        """How `fold_contribution` folds this field; `stored` is the class of a value that
        needs no normalising (a class no value has: always normalise)."""
        return (self.inline, stored, self.normalise, self.fold,
                None if self.capacity is None else self.trim,
                -1 if self.capacity is None else self.capacity)

    def trim(self, state: State) -> State:
        """Apply `capacity`: keep the most recently updated entries of a set or map, the
        greater key first among entries updated by the same event (docs/pipeline.md).

        Only the excess is looked for, so a full map that gains one key per event pays a
        scan for the oldest, not a sort.
        """
        acc = state[0]
        if self.capacity is None or not isinstance(acc, dict) or len(acc) <= self.capacity:
            return state
        kind = kind_of(self.type)
        times: dict[str, int] | None = None
        ranked: Iterator[tuple[Any, ...]]  # (when updated…, key): keys are unique
        if kind == "countmap":
            times = _key_times(state)
            ranked = ((t, k) for k, t in times.items())
        elif kind == "set":
            ranked = ((t, k) for k, t in acc.items())
        else:
            ranked = ((x[1], x[2], k) for k, x in acc.items())
        for entry in heapq.nsmallest(len(acc) - self.capacity, ranked):
            del acc[entry[-1]]
            if times is not None:
                del times[entry[-1]]
        return state

    def render(self, state: State, newest_ms: int) -> Any:
        """The field's value in the profile JSON (dates stay epoch ms here), or None."""
        acc = state[0]
        horizon = None if self.keep_days is None else newest_ms - self.keep_days * _MS_PER_DAY
        kind = kind_of(self.type)
        if kind == "scalar" or (self.merge == "latest" and kind == "set"):
            if horizon is not None and state[1] < horizon:
                return None
            if kind != "set":
                return acc
            # a replaced set is kept as a union keeps it: times as decimal epoch-ms strings
            return sorted({int(k) for k in acc}) if self.type == "[]time" else sorted(set(acc))
        if kind == "set":
            if isinstance(acc, list):
                keys = acc
            else:
                keys = [k for k, t in acc.items() if horizon is None or t >= horizon]
            if self.type == "[]time":
                return sorted({int(k) for k in keys}) or None
            if self.type in _ALWAYS_TIMED:  # each value with its newest event time
                return {k: acc[k] for k in sorted(keys)} or None
            return sorted(keys) or None
        if kind == "countmap":
            return dict(sorted(acc.items())) or None
        return {k: x[0] for k, x in sorted(acc.items())
                if horizon is None or x[1] >= horizon} or None

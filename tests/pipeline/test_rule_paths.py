"""Every way the engine folds a merge rule gives what the rule table (`RULES`) gives.

A rule is declared once, in `engine.pipeline.merge.RULES`; the ingest paths fold it their own
way for speed. For every table entry (plain, with a `capacity`, timed), random contributions —
raw, as a mapping gives them, or already in their stored form — are folded

- one event at a time by `fold_contribution` (an event applied by the processor),
- the same across a profile document written and read back (the processor's batches meet
  profiles loaded from the store), and
- normalised by a bulk decoder, spilled, read back and folded as they are (`normalise`,
  `prenormalised`),
- in groups folded apart and absorbed into a profile (bulk ingest: decoders fold each set of
  identities, the main process merges the groups, encoded or read from their documents, or
  writes a new one's document),

and each must hold exactly the state the table's fold and combine make of the same inputs.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.config.model import FIELD_TYPES
from engine.pipeline.bulk import decoded, encode
from engine.pipeline.compiled import stored_class
from engine.pipeline.decode import normalise
from engine.pipeline.merge import (
    CALL,
    KEY_LATEST,
    MAX,
    RULES,
    TIMED_ADD,
    FieldRule,
    Rule,
    State,
    fold_contribution,
    kind_of,
    prenormalised,
)
from engine.pipeline.profile import Profile, document
from tests.pipeline.test_merge import values_for

Contribution = tuple[Any, int, str]  # value, event time, dedupe key
CAPACITIES = (None, 1, 2, 3)
KEEP_DAYS = (None, 1)
_ALWAYS: type = type("_Always", (), {})  # no value has it: every value is normalised

# Values a mapping may give that are not in the field's stored form, or that it cannot hold.
RAW = st.sampled_from([None, "", "7", "x", "2024-01-02T03:04:05Z", 3, 2.5, True,
                       ["a", "", 4], [], {"k1": "2"}, {"k2": None, "k3": 1.5}])


def entry_of(field_type: str, merge: str, capacity: int | None, keep_days: int | None
             ) -> tuple[str, str]:
    """The table entry a field selects: its kind's timed variant when it keeps entry times
    (for its options, or always: `ts[]string` is a set with a time per value)."""
    kind = kind_of(field_type)
    keeps_times = capacity is not None or keep_days is not None or field_type == "ts[]string"
    if (kind, f"{merge}_timed") in RULES and keeps_times:
        return kind, f"{merge}_timed"
    return kind, merge


FIELDS = [(t, m, c, d) for t, merges in FIELD_TYPES.items() for m in merges
          for c in CAPACITIES for d in KEEP_DAYS]
BY_ENTRY: dict[tuple[str, str], list[tuple[str, str, int | None, int | None]]] = {}
for _field in FIELDS:
    BY_ENTRY.setdefault(entry_of(*_field), []).append(_field)


def test_every_table_entry_is_selected_by_some_field() -> None:
    assert set(BY_ENTRY) == set(RULES)


@pytest.mark.parametrize("field", FIELDS, ids=str)
def test_a_field_folds_and_combines_with_its_table_entry(
        field: tuple[str, str, int | None, int | None]) -> None:
    rule = FieldRule.build("f", *field)
    entry = RULES[entry_of(*field)]
    assert (rule.fold, rule.combine) == (entry.fold, entry.combine)


# ---- the table's own fold and combine, as the reference


def table_fold(entry: Rule, rule: FieldRule, state: State | None,
               events: list[tuple[Contribution, int]]) -> tuple[State | None, int]:
    """The events folded with the table entry's fold (and `capacity`); and how many values
    did not fit."""
    unfit = 0
    for (raw, ts, tb), seq in events:
        try:
            value = rule.normalise(copy.deepcopy(raw))
        except Exception:
            unfit += 1
            continue
        if value is None:
            continue
        try:
            state = rule.trim(entry.fold(state, value, ts, tb, seq))
        except Exception:
            unfit += 1
    return state, unfit


def table_combine(entry: Rule, rule: FieldRule, a: State | None, b: State | None
                  ) -> State | None:
    if a is None or b is None:
        return a if b is None else b
    return rule.trim(entry.combine(a, b))


# ---- the ingest paths


def fast_fold(rule: FieldRule, stored: type, fields: dict[str, State],
              events: list[tuple[Contribution, int]]) -> int:
    plan = {"f": rule.step(stored)}
    return sum(fold_contribution(fields, plan, {"f": copy.deepcopy(raw)}, ts, tb, seq)
               for (raw, ts, tb), seq in events)


def spilled_fold(rule: FieldRule, stored: type, fields: dict[str, State],
                 events: list[tuple[Contribution, int]]) -> int:
    """As a bulk load folds: the decoder normalises and spills, the prefold folds as is."""
    plan = {"f": rule.step(stored)}
    ready = prenormalised(plan)
    unfit = 0
    for (raw, ts, tb), seq in events:
        out = {"f": copy.deepcopy(raw)}
        unfit += normalise(plan, out)
        unfit += fold_contribution(fields, ready, decoded(encode(out)), ts, tb, seq)
    return unfit


def reloaded(profile: Profile) -> Profile:
    """The profile as the store gives it back."""
    return Profile.loads(profile.id, profile.dumps())


@st.composite
def cases(draw: st.DrawFn, entry: tuple[str, str]
          ) -> tuple[FieldRule, type, list[tuple[Contribution, int]], list[int], int]:
    """A field selecting `entry`; the class its plan takes as stored; events (each with its
    log position); a group per event; and where the profile is written and read back."""
    field_type, merge, capacity, keep_days = draw(st.sampled_from(BY_ENTRY[entry]))
    rule = FieldRule.build("f", field_type, merge, capacity, keep_days)
    trusted = field_type in ("[]string", "map[string]intsum") and draw(st.booleans())
    stored = stored_class(field_type, trusted) if draw(st.booleans()) else _ALWAYS
    value = values_for(field_type)
    if stored is _ALWAYS:  # values as a mapping may give them
        value = st.one_of(value, RAW)
    raws = draw(st.lists(st.tuples(value, st.integers(0, 3)), min_size=1, max_size=10))
    events = [((v, t, f"e{i}"), i + 1) for i, (v, t) in enumerate(raws)]
    if stored is not _ALWAYS:  # what the plan takes as it comes is in the stored form
        events = [((rule.normalise(v), t, tb), s) for (v, t, tb), s in events
                  if rule.normalise(copy.deepcopy(v)) is not None]
    groups = draw(st.lists(st.integers(0, 2), min_size=len(events), max_size=len(events)))
    cut = draw(st.integers(0, len(events)))
    return rule, stored, events, groups, cut


@pytest.mark.parametrize("entry", list(RULES), ids=str)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_every_path_folds_as_the_table(entry: tuple[str, str], data: st.DataObject) -> None:
    rule, stored, events, groups, cut = data.draw(cases(entry))
    table = RULES[entry]
    want, want_unfit = table_fold(table, rule, None, events)

    # one event at a time, as the processor applies them
    fields: dict[str, State] = {}
    assert fast_fold(rule, stored, fields, events) == want_unfit
    assert fields.get("f") == want

    # a bulk decoder's spill, folded as it is read back
    spilled: dict[str, State] = {}
    assert spilled_fold(rule, stored, spilled, events) == want_unfit
    assert spilled.get("f") == want

    # a processor batch meeting a profile loaded from the store
    profile = Profile(1)
    fast_fold(rule, stored, profile.fields, events[:cut])
    profile = reloaded(profile)
    fast_fold(rule, stored, profile.fields, events[cut:])
    assert reloaded(profile).fields == reloaded(Profile(1, fields)).fields

    # bulk ingest: the events before `cut` are in the store; the rest, folded in groups by
    # the decoders, are absorbed in turn; a group nobody knew is written as its document
    before, _ = table_fold(table, rule, None, events[:cut])
    profile = Profile(1)
    fast_fold(rule, stored, profile.fields, events[:cut])
    profile = reloaded(profile)
    for g in sorted(set(groups[cut:])):
        part = [e for e, gi in zip(events[cut:], groups[cut:], strict=True) if gi == g]
        folded: dict[str, State] = {}
        fast_fold(rule, stored, folded, part)
        mine, _ = table_fold(table, rule, None, part)
        assert folded.get("f") == mine
        alone = Profile.loads(2, document(folded, {"id": ["x"]}, 0))
        assert alone.fields == reloaded(Profile(2, folded)).fields
        before = table_combine(table, rule, before, copy.deepcopy(mine))
        # a group's fields reach the merge encoded, or as its document holds them
        group = decoded(encode(folded)) if g % 2 else Profile.loads(0, alone.dumps()).fields
        profile.absorb(Profile(0, group, {}, 0), {"f": rule})
        profile = reloaded(profile)
    assert profile.fields == reloaded(Profile(1, {} if before is None else {"f": before})).fields


@pytest.mark.parametrize(("field_type", "merge", "capacity", "shape"), [
    ("map[string]intsum", "sum", 100, TIMED_ADD),
    ("map[string]time", "latest", None, KEY_LATEST),
    ("map[string]time", "latest", 3, KEY_LATEST),
    ("date", "max", None, MAX),
    ("date", "max", 3, CALL),
    ("date", "latest", 3, CALL),
])
def test_timed_count_maps_maps_of_latest_and_max_fold_inline(
        field_type: str, merge: str, capacity: int | None, shape: int) -> None:
    """The folds a Customer.io mapping calls for every event are folded inline, a capacity
    too (checked before `trim` is called); the other shapes with a capacity call their fold
    (`test_every_path_folds_as_the_table` holds every one of them to the table)."""
    assert FieldRule.build("f", field_type, merge, capacity).inline == shape

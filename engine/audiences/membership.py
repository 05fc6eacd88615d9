"""Audience membership: evaluated as profiles change, in the same transaction
(docs/audiences.md, docs/pipeline.md).

The processor calls `update` with the profiles it is about to write; the stored membership of
those profiles is compared with what the filters say now, and only the differences are written,
each as an enter or exit change with its time. Profiles merged away leave every audience. For
filters on relative dates, the next moment each profile's membership may flip is stored too, so
`due` can re-evaluate it then, with no event (a member of `last_active_ts > "now-30d"` leaves
exactly 30 days after its last activity).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.audiences.compiled import Audiences
from engine.pipeline.hooks import Standing
from engine.pipeline.merge import FieldRule
from engine.pipeline.profile import Profile
from engine.store.base import Store

Moves = Counter[tuple[str, str]]  # (audience, "enter" | "exit") -> profiles


@dataclass
class Diff:
    """One profile's membership before and after a change (what export jobs act on)."""

    profile_id: int
    members: list[str]  # now
    was: list[str]  # before
    _view: Callable[[], dict[str, Any] | None]
    merged_into: int | None = None  # merged away into this profile (then `members` is empty)

    @property
    def view(self) -> dict[str, Any] | None:
        """The profile's fields now (None: it is gone)."""
        return self._view()


def _constant(view: dict[str, Any] | None) -> Callable[[], dict[str, Any] | None]:
    return lambda: view


def _viewer(profile: Profile, rules: Mapping[str, FieldRule]
            ) -> Callable[[], dict[str, Any] | None]:
    """Every field of the profile, worked out only if an export job asks."""
    return lambda: profile.view(rules)


def update(audiences: Audiences, store: Store, rules: Mapping[str, FieldRule],
           profiles: Iterable[Profile], deleted: Mapping[int, int | None], now: int,
           diffs: list[Diff] | None = None) -> Moves:
    """Write the membership changes of these profiles (in the caller's transaction); with
    `diffs`, append each profile's before and after to it. `deleted`: the profiles gone, each
    with the profile it was merged into (None: it vanished)."""
    moves: Moves = Counter()
    if not len(audiences):
        return moves
    changed = list(profiles)
    gone = list(deleted)
    before = store.memberships([p.id for p in changed] + gone)
    enters: list[tuple[str, int]] = []
    exits: list[tuple[str, int]] = []
    checks: list[tuple[str, int, int | None]] = []
    timed = [a for a in audiences if a.clock_reads]
    order = {name: i for i, name in enumerate(audiences.names)}  # changes in config order
    for profile in changed:
        view = profile.view(rules, audiences.fields)
        now_in = audiences.members(view, now)
        was = before.get(profile.id, {})
        enters += [(name, profile.id) for name in now_in if name not in was]
        exits += [(name, profile.id) for name in sorted(was, key=lambda a: order.get(a, -1))
                  if name not in now_in]
        checks += [(a.name, profile.id, audiences.next_check(a, view, now)) for a in timed]
        if diffs is not None:
            diffs.append(Diff(profile.id, now_in, list(was), _viewer(profile, rules)))
    for pid in gone:
        exits += [(name, pid) for name in sorted(before.get(pid, {}),
                                                  key=lambda a: order.get(a, -1))]
        checks += [(a.name, pid, None) for a in timed]
        if diffs is not None:
            diffs.append(Diff(pid, [], list(before.get(pid, {})), _constant(None),
                              deleted[pid]))
    store.change_membership(enters, exits, now)
    if checks:
        store.set_checks(checks)
    for name, _pid in enters:
        moves[(name, "enter")] += 1
    for name, _pid in exits:
        moves[(name, "exit")] += 1
    return moves


def standing(audiences: Audiences, view: dict[str, Any], now: int) -> Standing:
    """A profile's audiences at `now` and, per relative-date audience, its next check."""
    return (audiences.members(view, now),
            [(a.name, audiences.next_check(a, view, now)) for a in audiences if a.clock_reads])


def enter_new(store: Store,
              profiles: Iterable[tuple[int, Standing, Callable[[], dict[str, Any] | None]]],
              now: int, diffs: list[Diff] | None = None) -> Moves:
    """Write the membership of brand-new profiles from their `standing` (bulk ingest works it
    out in its decoder processes); each comes with a reader of its view, for `diffs`."""
    moves: Moves = Counter()
    enters: list[tuple[str, int]] = []
    checks: list[tuple[str, int, int | None]] = []
    for pid, (names, next_checks), view in profiles:
        enters += [(name, pid) for name in names]
        checks += [(name, pid, at) for name, at in next_checks if at is not None]
        if diffs is not None and names:
            diffs.append(Diff(pid, names, [], view))
    store.change_membership(enters, (), now)
    if checks:
        store.set_checks(checks)
    for name, _pid in enters:
        moves[(name, "enter")] += 1
    return moves


def due(audiences: Audiences, store: Store, rules: Mapping[str, FieldRule], now: int,
        limit: int = 1000, diffs: list[Diff] | None = None) -> tuple[int, Moves]:
    """Re-evaluate the profiles whose membership may have flipped by `now` (in the caller's
    transaction); how many were due, and the changes."""
    pids = store.due_checks(now, limit)
    if not pids:
        return 0, Counter()
    # held until the commit: an applier on another node may be changing the same profiles
    docs = store.load_profiles(pids, lock=True)
    profiles = [Profile.loads(pid, doc) for pid, doc in docs.items()]
    missing = [pid for pid in pids if pid not in docs]
    return len(pids), update(audiences, store, rules, profiles,
                             dict.fromkeys(missing), now, diffs)

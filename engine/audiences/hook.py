"""The audience layer's answer to the pipeline's `ProfileHook`: memberships that follow
profiles, and what their changes mean to export jobs (docs/audiences.md).

Export jobs sit above this layer, so the façade passes what to do with membership changes as a
callback (`export`), called in the same transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from engine.audiences import membership
from engine.audiences.compiled import Audiences
from engine.audiences.membership import Diff, Moves
from engine.pipeline.hooks import Standing, Viewer
from engine.pipeline.merge import FieldRule
from engine.pipeline.profile import Profile
from engine.store import Store

Export = Callable[[Store, list[Diff], int], None]


class MembershipHook:
    """Keeps the memberships of a config's audiences in step with its profiles."""

    def __init__(self, audiences: Audiences, rules: Mapping[str, FieldRule],
                 export: Export | None = None) -> None:
        self.audiences = audiences
        self.rules = rules
        self.export = export
        self.moves: Moves = Counter()  # audience enters and exits written so far

    def standing(self, profile: Profile, now: int) -> Standing:
        return membership.standing(self.audiences,
                                   profile.view(self.rules, self.audiences.fields), now)

    def created(self, store: Store, profiles: Iterable[tuple[int, Standing, Viewer]],
                now: int) -> None:
        diffs: list[Diff] = []
        self.moves += membership.enter_new(store, profiles, now, diffs)
        self._export(store, diffs, now)

    def changed(self, store: Store, profiles: Iterable[Profile],
                deleted: Mapping[int, int], now: int) -> None:
        diffs: list[Diff] = []
        self.moves += membership.update(self.audiences, store, self.rules, profiles, deleted,
                                        now, diffs)
        self._export(store, diffs, now)

    def due(self, store: Store, now: int, limit: int) -> tuple[int, Moves]:
        """Re-evaluate the memberships time alone may have changed by `now` (the caller's
        transaction); how many profiles were due, and the changes (counted in `moves` by the
        caller once they commit)."""
        diffs: list[Diff] = []
        count, moves = membership.due(self.audiences, store, self.rules, now, limit, diffs)
        self._export(store, diffs, now)
        return count, moves

    def _export(self, store: Store, diffs: list[Diff], now: int) -> None:
        if self.export is not None and diffs:
            self.export(store, diffs, now)

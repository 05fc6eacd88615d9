"""The SQLite store's audience tables: members now (since when), every enter and exit, and when
a profile's membership may change with time alone (a filter on "now-30d")."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from engine.store.base import DAY_MS, HISTORY_DAYS, AudienceChange, AudienceDay, day_counts
from engine.store.sqlite.errors import translated
from engine.store.sqlite.sql import Tables, chunks, marks


class AudienceTables(Tables):
    @translated
    def memberships(self, ids: Sequence[int]) -> dict[int, dict[str, int]]:
        found: dict[int, dict[str, int]] = {}
        for chunk in chunks(ids):
            rows = self.db.execute(
                "SELECT profile_id, audience, entered FROM audience_members "  # noqa: S608
                f"WHERE profile_id IN ({marks(chunk)})", tuple(chunk))
            for pid, audience, entered in rows:
                found.setdefault(pid, {})[audience] = entered
        return found

    @translated
    def change_membership(self, entered: Iterable[tuple[str, int]],
                          exited: Iterable[tuple[str, int]], at: int) -> None:
        enters, exits = list(entered), list(exited)
        if enters:
            self.db.executemany(
                "INSERT INTO audience_members(audience, profile_id, entered) VALUES (?, ?, ?)",
                ((a, p, at) for a, p in enters))
        if exits:
            self.db.executemany(
                "DELETE FROM audience_members WHERE audience = ? AND profile_id = ?", exits)
        if enters or exits:
            self.db.executemany(
                "INSERT INTO audience_changes(audience, profile_id, entered, at) "
                "VALUES (?, ?, ?, ?)",
                [(a, p, 1, at) for a, p in enters] + [(a, p, 0, at) for a, p in exits])
            self._count_day(day_counts(enters, exits), at // DAY_MS)

    def _count_day(self, counts: dict[str, tuple[int, int]], day: int) -> None:
        """Add a change's entries and exits to each audience's row for `day`; a new day
        starts from the size the audience's latest earlier day ended with."""
        for audience, (entered, exited) in counts.items():
            self.db.execute(
                "INSERT INTO audience_days(audience, day, size, entered, exited) "
                "VALUES (?, ?, COALESCE((SELECT size FROM audience_days WHERE audience = ? "
                "AND day < ? ORDER BY day DESC LIMIT 1), 0) + ? - ?, ?, ?) "
                "ON CONFLICT(audience, day) DO UPDATE SET "
                "size = size + excluded.entered - excluded.exited, "
                "entered = entered + excluded.entered, exited = exited + excluded.exited",
                (audience, day, audience, day, entered, exited, entered, exited))
            self.db.execute("DELETE FROM audience_days WHERE audience = ? AND day < ?",
                            (audience, day - HISTORY_DAYS))

    @translated
    def audience_history(self, audience: str, since_day: int = 0) -> list[AudienceDay]:
        return list(self.db.execute(
            "SELECT day, size, entered, exited FROM audience_days WHERE audience = ? "
            "AND day >= ? ORDER BY day", (audience, since_day)))

    @translated
    def set_checks(self, rows: Iterable[tuple[str, int, int | None]]) -> None:
        rows = list(rows)
        self.db.executemany(
            "INSERT INTO audience_checks(audience, profile_id, at) VALUES (?, ?, ?) "
            "ON CONFLICT(audience, profile_id) DO UPDATE SET at = excluded.at",
            [r for r in rows if r[2] is not None])
        cleared: dict[str, list[int]] = {}
        for audience, pid, at in rows:
            if at is None:
                cleared.setdefault(audience, []).append(pid)
        for audience, pids in cleared.items():
            for chunk in chunks(pids):
                self.db.execute("DELETE FROM audience_checks WHERE audience = ? "  # noqa: S608
                                f"AND profile_id IN ({marks(chunk)})", (audience, *chunk))

    @translated
    def due_checks(self, now: int, limit: int) -> list[int]:
        rows = self.db.execute(
            "SELECT DISTINCT profile_id FROM (SELECT profile_id FROM audience_checks "
            "WHERE at <= ? ORDER BY at LIMIT ?)", (now, limit))
        return [r[0] for r in rows]

    @translated
    def next_check(self) -> int | None:
        row = self.db.execute("SELECT MIN(at) FROM audience_checks").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    @translated
    def orphan_memberships(self) -> list[tuple[str, int]]:
        return list(self.db.execute(
            "SELECT audience, profile_id FROM audience_members "
            "WHERE profile_id NOT IN (SELECT id FROM profiles)"))

    @translated
    def audience_sizes(self) -> dict[str, int]:
        return dict(self.db.execute(
            "SELECT audience, COUNT(*) FROM audience_members GROUP BY audience"))

    @translated
    def audience_members(self, audience: str, *, after: int = 0, limit: int = 1000
                         ) -> list[tuple[int, int]]:
        return list(self.db.execute(
            "SELECT profile_id, entered FROM audience_members WHERE audience = ? "
            "AND profile_id > ? ORDER BY profile_id LIMIT ?", (audience, after, limit)))

    @translated
    def audience_changes(self, profile_id: int | None = None) -> list[AudienceChange]:
        sql = "SELECT audience, profile_id, entered, at FROM audience_changes"
        params: tuple[Any, ...] = ()
        if profile_id is not None:
            sql += " WHERE profile_id = ?"
            params = (profile_id,)
        return list(self.db.execute(sql + " ORDER BY id", params))

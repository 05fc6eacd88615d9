"""The PostgreSQL store's audience tables: members now (since when), every enter and exit, and
when a profile's membership may change with time alone (a filter on "now-30d")."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from engine.store.base import DAY_MS, HISTORY_DAYS, AudienceChange, AudienceDay, day_counts
from engine.store.postgres.errors import translated
from engine.store.postgres.sql import Tables


class AudienceTables(Tables):
    @translated
    def memberships(self, ids: Sequence[int]) -> dict[int, dict[str, int]]:
        found: dict[int, dict[str, int]] = {}
        rows = self.conn.execute(
            "SELECT profile_id, audience, entered FROM audience_members "
            "WHERE profile_id = ANY(%s::bigint[])", (list(ids),))
        for pid, audience, entered in rows:
            found.setdefault(pid, {})[audience] = entered
        return found

    @translated
    def change_membership(self, entered: Iterable[tuple[str, int]],
                          exited: Iterable[tuple[str, int]], at: int) -> None:
        enters, exits = list(entered), list(exited)
        with self.conn.cursor() as cur:
            if enters:
                cur.executemany(
                    "INSERT INTO audience_members(audience, profile_id, entered) "
                    "VALUES (%s, %s, %s)", [(a, p, at) for a, p in enters])
            if exits:
                cur.executemany(
                    "DELETE FROM audience_members WHERE audience = %s AND profile_id = %s",
                    exits)
            if enters or exits:
                cur.executemany(
                    "INSERT INTO audience_changes(audience, profile_id, entered, at) "
                    "VALUES (%s, %s, %s, %s)",
                    [(a, p, 1, at) for a, p in enters] + [(a, p, 0, at) for a, p in exits])
                self._count_day(day_counts(enters, exits), at // DAY_MS)

    def _count_day(self, counts: dict[str, tuple[int, int]], day: int) -> None:
        """Add a change's entries and exits to each audience's row for `day`; a new day
        starts from the size the audience's latest earlier day ended with."""
        with self.conn.cursor() as cur:
            for audience, (entered, exited) in sorted(counts.items()):  # one lock order
                cur.execute(
                    "INSERT INTO audience_days AS d(audience, day, size, entered, exited) "
                    "VALUES (%s, %s, COALESCE((SELECT size FROM audience_days "
                    "WHERE audience = %s AND day < %s ORDER BY day DESC LIMIT 1), 0) "
                    "+ %s - %s, %s, %s) "
                    "ON CONFLICT (audience, day) DO UPDATE SET "
                    "size = d.size + excluded.entered - excluded.exited, "
                    "entered = d.entered + excluded.entered, "
                    "exited = d.exited + excluded.exited",
                    (audience, day, audience, day, entered, exited, entered, exited))
                cur.execute("DELETE FROM audience_days WHERE audience = %s AND day < %s",
                            (audience, day - HISTORY_DAYS))

    @translated
    def set_checks(self, rows: Iterable[tuple[str, int, int | None]]) -> None:
        rows = list(rows)
        due = [r for r in rows if r[2] is not None]
        cleared: dict[str, list[int]] = {}
        for audience, pid, at in rows:
            if at is None:
                cleared.setdefault(audience, []).append(pid)
        with self.conn.cursor() as cur:
            if due:
                cur.executemany(
                    "INSERT INTO audience_checks(audience, profile_id, at) VALUES (%s, %s, %s) "
                    "ON CONFLICT (audience, profile_id) DO UPDATE SET at = excluded.at", due)
            if cleared:
                cur.executemany("DELETE FROM audience_checks WHERE audience = %s "
                                "AND profile_id = ANY(%s::bigint[])", list(cleared.items()))

    @translated
    def due_checks(self, now: int, limit: int) -> list[int]:
        rows = self.conn.execute(
            "SELECT profile_id FROM (SELECT profile_id, at FROM audience_checks "
            "WHERE at <= %s ORDER BY at LIMIT %s) due "
            "GROUP BY profile_id ORDER BY MIN(at), profile_id", (now, limit))
        return [r[0] for r in rows]

    @translated
    def next_check(self) -> int | None:
        row = self.conn.execute("SELECT MIN(at) FROM audience_checks").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    @translated
    def orphan_memberships(self) -> list[tuple[str, int]]:
        return self.conn.execute(
            "SELECT audience, profile_id FROM audience_members m WHERE NOT EXISTS "
            "(SELECT 1 FROM profiles p WHERE p.id = m.profile_id) "
            "ORDER BY audience, profile_id").fetchall()

    @translated
    def audience_sizes(self) -> dict[str, int]:
        return dict(self.conn.execute(
            "SELECT audience, COUNT(*) FROM audience_members GROUP BY audience").fetchall())

    @translated
    def audience_members(self, audience: str, *, after: int = 0, limit: int = 1000
                         ) -> list[tuple[int, int]]:
        return self.conn.execute(
            "SELECT profile_id, entered FROM audience_members WHERE audience = %s "
            "AND profile_id > %s ORDER BY profile_id LIMIT %s", (audience, after, limit)
        ).fetchall()

    @translated
    def audience_history(self, audience: str, since_day: int = 0) -> list[AudienceDay]:
        return self.conn.execute(
            "SELECT day, size, entered, exited FROM audience_days WHERE audience = %s "
            "AND day >= %s ORDER BY day", (audience, since_day)).fetchall()

    @translated
    def audience_changes(self, profile_id: int | None = None) -> list[AudienceChange]:
        if profile_id is None:
            return self.conn.execute(
                "SELECT audience, profile_id, entered, at FROM audience_changes "
                "ORDER BY id").fetchall()
        return self.conn.execute(
            "SELECT audience, profile_id, entered, at FROM audience_changes "
            "WHERE profile_id = %s ORDER BY id", (profile_id,)).fetchall()

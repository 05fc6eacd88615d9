"""The PostgreSQL store's export tables: the outbox of requests to make (written with the
membership change that causes them), what each job last sent per member (to send again only on
a real change), the items a destination refused for good, and each job's state."""

from __future__ import annotations

from collections.abc import Sequence

from engine.store.base import DeadExport, OutboxItem
from engine.store.postgres.errors import translated
from engine.store.postgres.sql import Tables


class ExportTables(Tables):
    @translated
    def add_outbox(self, job: str, items: Sequence[tuple[int, str, bytes]], now: int) -> None:
        if items:
            with self.conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO outbox(job, profile_id, action, body, created, next_at) "
                    "VALUES (%s, %s, %s, %s, %s, 0)", [(job, p, a, b, now) for p, a, b in items])

    @translated
    def export_members(self, job: str, ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        rows = self.conn.execute(
            "SELECT profile_id, identifier, digest FROM export_members "
            "WHERE job = %s AND profile_id = ANY(%s::bigint[])", (job, list(ids)))
        return {pid: (identifier, digest) for pid, identifier, digest in rows}

    @translated
    def set_export_members(self, job: str, rows: Sequence[tuple[int, str, str]],
                           gone: Sequence[int]) -> None:
        with self.conn.cursor() as cur:
            if rows:
                cur.executemany(
                    "INSERT INTO export_members(job, profile_id, identifier, digest) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (job, profile_id) DO UPDATE SET "
                    "identifier = excluded.identifier, digest = excluded.digest",
                    [(job, p, i, d) for p, i, d in rows])
            if gone:
                cur.execute("DELETE FROM export_members WHERE job = %s "
                            "AND profile_id = ANY(%s::bigint[])", (job, list(gone)))

    @translated
    def due_outbox(self, job: str, now: int, limit: int) -> list[OutboxItem]:
        return self.conn.execute(
            "SELECT id, profile_id, action, body, attempts, created FROM outbox "
            "WHERE job = %s AND next_at <= %s ORDER BY next_at, id LIMIT %s",  # index order
            (job, now, limit)).fetchall()

    @translated
    def claim_outbox(self, job: str, now: int, limit: int, lease_ms: int) -> list[OutboxItem]:
        # Rows another runner's claim holds locked are skipped, not waited for; one it claimed
        # and committed meanwhile is due no more when re-checked, and is left out too.
        rows = self.conn.execute(
            "WITH due AS (SELECT id, next_at FROM outbox WHERE job = %s AND next_at <= %s "
            "ORDER BY next_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
            "UPDATE outbox o SET next_at = %s, claimed = TRUE FROM due WHERE o.id = due.id "
            "RETURNING due.next_at, o.id, o.profile_id, o.action, o.body, o.attempts, "
            "o.created", (job, now, limit, now + lease_ms)).fetchall()
        rows.sort(key=lambda r: (r[0], r[1]))  # RETURNING keeps no order
        return [tuple(r[1:]) for r in rows]

    @translated
    def outbox_release(self, ids: Sequence[int], at: int) -> None:
        if ids:
            self.conn.execute("UPDATE outbox SET next_at = %s, claimed = FALSE "
                              "WHERE id = ANY(%s::bigint[])", (at, list(ids)))

    @translated
    def outbox_unclaim(self, job: str) -> int:
        return self.conn.execute("UPDATE outbox SET next_at = 0, claimed = FALSE "
                                 "WHERE job = %s AND claimed", (job,)).rowcount

    @translated
    def outbox_depth(self, job: str | None = None) -> int:
        if job is None:
            return self._scalar("SELECT COUNT(*) FROM outbox")
        return self._scalar("SELECT COUNT(*) FROM outbox WHERE job = %s", (job,))

    @translated
    def outbox_coalesce(self, job: str, pairs: Sequence[tuple[int, str]]
                        ) -> set[tuple[int, str]]:
        if not pairs:
            return set()
        pids, actions = zip(*set(pairs), strict=True)
        # A row a runner is claiming is locked: the delete waits for its commit, then sees
        # it claimed and leaves it.
        rows = self.conn.execute(
            "DELETE FROM outbox o USING unnest(%s::bigint[], %s::text[]) AS p(pid, action) "
            "WHERE o.job = %s AND o.profile_id = p.pid AND o.action = p.action "
            "AND NOT o.claimed RETURNING o.profile_id, o.action",
            (list(pids), list(actions), job)).fetchall()
        return {(pid, action) for pid, action in rows}

    @translated
    def outbox_superseded(self, ids: Sequence[int]) -> set[int]:
        if not ids:
            return set()
        rows = self.conn.execute(
            "SELECT o.id FROM outbox o WHERE o.id = ANY(%s::bigint[]) AND EXISTS (SELECT 1 "
            "FROM outbox n WHERE n.job = o.job AND n.profile_id = o.profile_id "
            "AND n.action = o.action AND n.id > o.id)", (list(ids),)).fetchall()
        return {row[0] for row in rows}

    @translated
    def next_outbox(self, job: str) -> int | None:
        row = self.conn.execute("SELECT MIN(next_at) FROM outbox WHERE job = %s",
                                (job,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    @translated
    def outbox_done(self, ids: Sequence[int]) -> None:
        if ids:
            self.conn.execute("DELETE FROM outbox WHERE id = ANY(%s::bigint[])", (list(ids),))

    @translated
    def outbox_retry(self, rows: Sequence[tuple[int, int]]) -> None:
        if rows:
            with self.conn.cursor() as cur:
                cur.executemany("UPDATE outbox SET attempts = attempts + 1, next_at = %s, "
                                "claimed = FALSE WHERE id = %s", [(at, i) for i, at in rows])

    @translated
    def outbox_dead(self, rows: Sequence[tuple[int, int, str]], at: int) -> None:
        if rows:
            with self.conn.cursor() as cur:
                cur.executemany(
                    "WITH gone AS (DELETE FROM outbox WHERE id = %s "
                    "RETURNING job, profile_id, action, body) "
                    "INSERT INTO export_dead(job, profile_id, action, body, status, response, at) "
                    "SELECT job, profile_id, action, body, %s, %s, %s FROM gone",
                    [(item_id, status, response, at) for item_id, status, response in rows])

    @translated
    def export_dead(self, job: str | None = None, limit: int = 100) -> list[DeadExport]:
        if job is None:
            return self.conn.execute(
                "SELECT id, job, profile_id, action, body, status, response, at "
                "FROM export_dead ORDER BY id LIMIT %s", (limit,)).fetchall()
        return self.conn.execute(
            "SELECT id, job, profile_id, action, body, status, response, at "
            "FROM export_dead WHERE job = %s ORDER BY id LIMIT %s", (job, limit)).fetchall()

    @translated
    def take_export_dead(self, job: str, ids: Sequence[int]) -> list[DeadExport]:
        if not ids:
            return []
        rows = self.conn.execute(
            "DELETE FROM export_dead WHERE job = %s AND id = ANY(%s::bigint[]) "
            "RETURNING id, job, profile_id, action, body, status, response, at",
            (job, list(ids))).fetchall()
        return sorted(rows)

    @translated
    def job_state(self, job: str) -> tuple[str | None, str | None]:
        row = self.conn.execute("SELECT paused, backfilled FROM export_jobs WHERE job = %s",
                                (job,)).fetchone()
        return (None, None) if row is None else (row[0], row[1])

    @translated
    def set_paused(self, job: str, reason: str | None) -> None:
        self.conn.execute("INSERT INTO export_jobs(job, paused) VALUES (%s, %s) "
                          "ON CONFLICT (job) DO UPDATE SET paused = excluded.paused",
                          (job, reason))

    @translated
    def set_backfilled(self, job: str, digest: str) -> None:
        self.conn.execute("INSERT INTO export_jobs(job, backfilled) VALUES (%s, %s) "
                          "ON CONFLICT (job) DO UPDATE SET backfilled = excluded.backfilled",
                          (job, digest))

    @translated
    def operator_pause(self, job: str) -> int | None:
        row = self.conn.execute("SELECT operator_paused FROM export_jobs WHERE job = %s",
                                (job,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    @translated
    def set_operator_pause(self, job: str, since: int | None) -> None:
        self.conn.execute("INSERT INTO export_jobs(job, operator_paused) VALUES (%s, %s) "
                          "ON CONFLICT (job) DO UPDATE SET operator_paused = "
                          "excluded.operator_paused", (job, since))

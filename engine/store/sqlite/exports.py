"""The SQLite store's export tables: the outbox of requests to make (written with the membership
change that causes them), what each job last sent per member (to send again only on a real
change), the items a destination refused for good, and each job's state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.store.base import DeadExport, OutboxItem
from engine.store.sqlite.errors import translated
from engine.store.sqlite.sql import Tables, chunks, immediate, marks, scalar


class ExportTables(Tables):
    @translated
    def add_outbox(self, job: str, items: Sequence[tuple[int, str, bytes]], now: int) -> None:
        if items:
            self.db.executemany(
                "INSERT INTO outbox(job, profile_id, action, body, created, next_at) "
                "VALUES (?, ?, ?, ?, ?, 0)", [(job, p, a, b, now) for p, a, b in items])

    @translated
    def export_members(self, job: str, ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        found: dict[int, tuple[str, str]] = {}
        for chunk in chunks(ids):
            rows = self.db.execute(
                "SELECT profile_id, identifier, digest FROM export_members "  # noqa: S608
                f"WHERE job = ? AND profile_id IN ({marks(chunk)})", (job, *chunk))
            for pid, identifier, digest in rows:
                found[pid] = (identifier, digest)
        return found

    @translated
    def set_export_members(self, job: str, rows: Sequence[tuple[int, str, str]],
                           gone: Sequence[int]) -> None:
        if rows:
            self.db.executemany(
                "INSERT INTO export_members(job, profile_id, identifier, digest) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(job, profile_id) DO UPDATE SET "
                "identifier = excluded.identifier, digest = excluded.digest",
                [(job, p, i, d) for p, i, d in rows])
        if gone:
            self.db.executemany("DELETE FROM export_members WHERE job = ? AND profile_id = ?",
                                [(job, p) for p in gone])

    @translated
    def due_outbox(self, job: str, now: int, limit: int) -> list[OutboxItem]:
        rows = self.db.execute(
            "SELECT id, profile_id, action, body, attempts, created FROM outbox "
            "WHERE job = ? AND next_at <= ? ORDER BY next_at, id LIMIT ?",  # index order
            (job, now, limit))
        return list(rows)

    @translated
    def claim_outbox(self, job: str, now: int, limit: int, lease_ms: int) -> list[OutboxItem]:
        with immediate(self.db):  # no other connection writes between the read and the claim
            rows = list(self.db.execute(
                "SELECT id, profile_id, action, body, attempts, created FROM outbox "
                "WHERE job = ? AND next_at <= ? ORDER BY next_at, id LIMIT ?",
                (job, now, limit)))
            self.db.executemany("UPDATE outbox SET next_at = ?, claimed = 1 WHERE id = ?",
                                [(now + lease_ms, r[0]) for r in rows])
        return rows

    @translated
    def outbox_release(self, ids: Sequence[int], at: int) -> None:
        self.db.executemany("UPDATE outbox SET next_at = ?, claimed = 0 WHERE id = ?",
                            [(at, i) for i in ids])

    @translated
    def outbox_unclaim(self, job: str) -> int:
        return self.db.execute("UPDATE outbox SET next_at = 0, claimed = 0 "
                               "WHERE job = ? AND claimed = 1", (job,)).rowcount

    @translated
    def outbox_depth(self, job: str | None = None) -> int:
        if job is None:
            return scalar(self.db, "SELECT COUNT(*) FROM outbox")
        return scalar(self.db, "SELECT COUNT(*) FROM outbox WHERE job = ?", (job,))

    @translated
    def outbox_coalesce(self, job: str, pairs: Sequence[tuple[int, str]]
                        ) -> set[tuple[int, str]]:
        wanted = set(pairs)
        found: set[tuple[int, str]] = set()
        gone: list[int] = []
        # one read per chunk of people (a backfill coalesces every member), then the deletes
        for chunk in chunks(sorted({pid for pid, _action in wanted})):
            for item_id, pid, action in self.db.execute(
                    "SELECT id, profile_id, action FROM outbox WHERE job = ? "  # noqa: S608
                    f"AND profile_id IN ({marks(chunk)}) AND claimed = 0", (job, *chunk)):
                if (pid, action) in wanted:
                    found.add((pid, action))
                    gone.append(item_id)
        if gone:
            self.db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in gone])
        return found

    @translated
    def outbox_superseded(self, ids: Sequence[int]) -> set[int]:
        found: set[int] = set()
        for chunk in chunks(ids):
            found.update(row[0] for row in self.db.execute(
                "SELECT o.id FROM outbox o WHERE o.id IN "  # noqa: S608 -- marks only
                f"({marks(chunk)}) AND EXISTS (SELECT 1 FROM outbox n WHERE n.job = o.job "
                "AND n.profile_id = o.profile_id AND n.action = o.action AND n.id > o.id)",
                tuple(chunk)))
        return found

    @translated
    def next_outbox(self, job: str) -> int | None:
        row = self.db.execute("SELECT MIN(next_at) FROM outbox WHERE job = ?", (job,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    @translated
    def outbox_done(self, ids: Sequence[int]) -> None:
        self.db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    @translated
    def outbox_retry(self, rows: Sequence[tuple[int, int]]) -> None:
        self.db.executemany("UPDATE outbox SET attempts = attempts + 1, next_at = ?, "
                            "claimed = 0 WHERE id = ?", [(at, i) for i, at in rows])

    @translated
    def outbox_dead(self, rows: Sequence[tuple[int, int, str]], at: int) -> None:
        for item_id, status, response in rows:
            self.db.execute(
                "INSERT INTO export_dead(job, profile_id, action, body, status, response, at) "
                "SELECT job, profile_id, action, body, ?, ?, ? FROM outbox WHERE id = ?",
                (status, response, at, item_id))
            self.db.execute("DELETE FROM outbox WHERE id = ?", (item_id,))

    @translated
    def export_dead(self, job: str | None = None, limit: int = 100) -> list[DeadExport]:
        sql = ("SELECT id, job, profile_id, action, body, status, response, at FROM export_dead")
        params: tuple[Any, ...] = ()
        if job is not None:
            sql += " WHERE job = ?"
            params = (job,)
        return list(self.db.execute(sql + " ORDER BY id LIMIT ?", (*params, limit)))

    @translated
    def take_export_dead(self, job: str, ids: Sequence[int]) -> list[DeadExport]:
        taken: list[DeadExport] = []
        for chunk in chunks(ids):
            taken += self.db.execute(
                "DELETE FROM export_dead WHERE job = ? "  # noqa: S608 -- marks only
                f"AND id IN ({marks(chunk)}) RETURNING id, job, profile_id, action, body, "
                "status, response, at", (job, *chunk)).fetchall()
        return sorted(taken)

    @translated
    def job_state(self, job: str) -> tuple[str | None, str | None]:
        row = self.db.execute("SELECT paused, backfilled FROM export_jobs WHERE job = ?",
                              (job,)).fetchone()
        return (None, None) if row is None else (row[0], row[1])

    @translated
    def set_paused(self, job: str, reason: str | None) -> None:
        self.db.execute("INSERT INTO export_jobs(job, paused) VALUES (?, ?) "
                        "ON CONFLICT(job) DO UPDATE SET paused = excluded.paused", (job, reason))

    @translated
    def set_backfilled(self, job: str, digest: str) -> None:
        self.db.execute("INSERT INTO export_jobs(job, backfilled) VALUES (?, ?) "
                        "ON CONFLICT(job) DO UPDATE SET backfilled = excluded.backfilled",
                        (job, digest))

    @translated
    def operator_pause(self, job: str) -> int | None:
        row = self.db.execute("SELECT operator_paused FROM export_jobs WHERE job = ?",
                              (job,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    @translated
    def set_operator_pause(self, job: str, since: int | None) -> None:
        self.db.execute("INSERT INTO export_jobs(job, operator_paused) VALUES (?, ?) "
                        "ON CONFLICT(job) DO UPDATE SET operator_paused = "
                        "excluded.operator_paused", (job, since))

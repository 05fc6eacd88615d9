"""Export jobs (docs/exports.md): what each membership change puts in the outbox.

The outbox is written in the same transaction as the membership change that causes it, so a
crash can neither lose a send nor invent one: a profile that enters the job's audience gets an
identify; one that stays a member gets another only when an exported attribute really changed
(what was last queued is kept per member, as a digest); one that leaves gets what `on_exit`
says. A member without a value in `id_field` is skipped and counted. Dates go out as Unix
seconds, as Customer.io wants them.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from engine.audiences.membership import Diff
from engine.config.model import AuthorizationSpec, ExportSpec, Settings
from engine.store.base import Store

IDENTIFY, DELETE = "identify", "delete"
Counts = Counter[tuple[str, str]]  # (job, "queued" | "skipped") -> items


@dataclass(frozen=True)
class ExportJob:
    spec: ExportSpec
    authorization: AuthorizationSpec | None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def audience(self) -> str:
        return self.spec.audience

    def disabled(self) -> str | None:
        """Why the job cannot send (its credentials are not set), or None."""
        auth = self.authorization
        if auth is None:
            return f"authorization {self.spec.authorization!r} is not in the config"
        missing = [k for k in ("site_id", "api_key") if not getattr(auth, k)]
        if missing:
            return (f"authorization {auth.name!r} has no {' and no '.join(missing)}; set them "
                    "(CIO_SITE_ID, CIO_API_KEY) to turn the job on")
        return None

    def body(self, view: Mapping[str, Any]) -> dict[str, Any] | None:
        """The identify of a member: its identifier and attributes, or None without an id."""
        ident = view.get(self.spec.id_field)
        if isinstance(ident, list):
            ident = ident[0] if ident else None
        if ident is None or isinstance(ident, bool | dict) or ident == "":
            return None
        attributes: dict[str, Any] = {}
        if self.spec.email_field and view.get(self.spec.email_field) is not None:
            attributes["email"] = _out(view[self.spec.email_field])
        for name in self.spec.extra_attributes:
            if view.get(name) is not None:
                attributes[name] = _out(view[name])
        return {"id": str(ident), "attributes": attributes}

    def digest(self) -> str:
        """Names this job's definition: a backfill is owed again when it changes."""
        return _digest([self.spec.audience, self.spec.id_field, self.spec.email_field,
                        list(self.spec.extra_attributes)], 16)


def _out(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, list):
        return [_out(v) for v in value]
    if isinstance(value, dict):
        return {k: _out(v) for k, v in value.items()}
    return value


def _digest(value: Any, size: int = 24) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()[:size]


class ExportJobs:
    """Every export job of a config."""

    def __init__(self, settings: Settings) -> None:
        auths = {a.name: a for a in settings.authorizations}
        self.jobs = {e.name: ExportJob(e, auths.get(e.authorization)) for e in settings.exports}
        self.by_audience: dict[str, list[ExportJob]] = {}
        for job in self.jobs.values():
            self.by_audience.setdefault(job.audience, []).append(job)

    def __len__(self) -> int:
        return len(self.jobs)

    def enqueue(self, store: Store, diffs: Sequence[Diff], now: int) -> Counts:
        """Queue what these membership changes mean for each job (caller's transaction)."""
        counts: Counts = Counter()
        if not self.jobs or not diffs:
            return counts
        for job in self.jobs.values():
            touched = [d for d in diffs if job.audience in d.members or job.audience in d.was]
            if touched:
                self._enqueue_job(job, store, touched, now, counts)
        return counts

    def _enqueue_job(self, job: ExportJob, store: Store, diffs: Sequence[Diff],
                     now: int, counts: Counts) -> None:
        sent = store.export_members(job.name, [d.profile_id for d in diffs])
        items: list[tuple[int, str, bytes]] = []
        members: list[tuple[int, str, str]] = []
        gone: list[int] = []
        for d in diffs:
            last = sent.get(d.profile_id)
            if job.audience in d.members:
                view = d.view
                body = None if view is None else job.body(view)
                if body is None:
                    counts[(job.name, "skipped")] += 1
                    continue
                digest = _digest(body)
                if last is not None and last[1] == digest:
                    continue  # a member whose exported attributes did not change
                items.append((d.profile_id, IDENTIFY, orjson.dumps(body)))
                members.append((d.profile_id, body["id"], digest))
            elif last is not None:  # left the audience
                gone.append(d.profile_id)
                exit_item = self._exit(job, last[0])
                if exit_item is not None:
                    items.append((d.profile_id, *exit_item))
        store.add_outbox(job.name, items, now)
        store.set_export_members(job.name, members, gone)
        counts[(job.name, "queued")] += len(items)

    @staticmethod
    def _exit(job: ExportJob, identifier: str) -> tuple[str, bytes] | None:
        if job.spec.on_exit == "delete":
            return DELETE, orjson.dumps({"id": identifier})
        if job.spec.on_exit == "attribute":
            return IDENTIFY, orjson.dumps(
                {"id": identifier, "attributes": {f"in_{job.audience}": False}})
        return None

    def backfill(self, job: ExportJob, store: Store, members: Iterable[
            tuple[int, Mapping[str, Any]]], now: int) -> Counts:
        """Queue an identify for every current member (`existing_users`), in the caller's
        transaction, and remember that this job definition got its backfill."""
        counts: Counts = Counter()
        items: list[tuple[int, str, bytes]] = []
        rows: list[tuple[int, str, str]] = []
        for pid, view in members:
            body = job.body(view)
            if body is None:
                counts[(job.name, "skipped")] += 1
                continue
            items.append((pid, IDENTIFY, orjson.dumps(body)))
            rows.append((pid, body["id"], _digest(body)))
        store.add_outbox(job.name, items, now)
        store.set_export_members(job.name, rows, [])
        store.set_backfilled(job.name, job.digest())
        counts[(job.name, "queued")] += len(items)
        return counts

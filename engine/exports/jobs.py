"""Export jobs (docs/exports.md, docs/customerio.md): what each membership change puts in the
outbox.

The outbox is written in the same transaction as the membership change that causes it, so a
crash can neither lose a send nor invent one. A profile that enters the job's audience gets, in
order: an `unsuppress` (`on_exit: suppress`), an identify, the enter event, a segment add; one
that stays a member gets another identify only when an exported attribute really changed (what
was last queued is kept per member, as a digest), with `null` for an attribute that became
missing; one that leaves gets the membership attribute set false, the exit event, a segment
remove, then what `on_exit` says; two sent profiles that merge become one `merge`. A member
without a value in `id_field` is skipped and counted. Dates go out as Unix seconds, as
Customer.io wants them, and every item carries the change's time.

A person's queued items are coalesced: a newer identify replaces the older ones still queued
(each identify says every exported attribute, so the newest is all that needs to arrive), and a
segment add or remove cancels an opposite one still queued.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from itertools import islice
from typing import Any

import orjson

from engine.audiences.membership import Diff
from engine.config.model import IDENTIFIER_KINDS, AuthorizationSpec, ExportSpec, Settings
from engine.store.base import Store

# The actions of outbox items (docs/customerio.md, "What an export sends").
IDENTIFY, DELETE, EVENT, MERGE = "identify", "delete", "event", "merge"
SUPPRESS, UNSUPPRESS = "suppress", "unsuppress"
SEGMENT_ADD, SEGMENT_REMOVE = "segment_add", "segment_remove"
SEGMENT_ACTIONS = (SEGMENT_ADD, SEGMENT_REMOVE)
ACTIONS = (IDENTIFY, DELETE, EVENT, MERGE, SUPPRESS, UNSUPPRESS, SEGMENT_ADD, SEGMENT_REMOVE)
Counts = Counter[tuple[str, str]]  # (job, "queued" | "skipped") -> items
BACKFILL_CHUNK = 1000  # members looked up in the store at once during a backfill


def identifiers(body: Mapping[str, Any]) -> dict[str, Any]:
    """Who an outbox item addresses, as v2 `identifiers` (one of id, email, cio_id)."""
    for kind in IDENTIFIER_KINDS:
        if kind in body:
            return {kind: body[kind]}
    return {}


def identifier(body: Mapping[str, Any]) -> tuple[str, Any]:
    """``(kind, value)`` of the person an outbox item addresses (``("id", None)``: none)."""
    found = identifiers(body)
    return next(iter(found.items())) if found else ("id", None)


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

    @property
    def membership_key(self) -> str:
        return f"in_{self.spec.audience}"

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

    def ident(self, view: Mapping[str, Any]) -> str | None:
        """The member's identifier value (from `id_field`), or None without one."""
        value = view.get(self.spec.id_field)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None or isinstance(value, bool | dict) or value == "":
            return None
        return str(value)

    def body(self, view: Mapping[str, Any], *, cleared: bool = False) -> dict[str, Any] | None:
        """The identify of a member: its identifier and attributes, or None without an id.
        `cleared`: Customer.io has the member already, so an exported attribute that is
        missing now is sent as null (Customer.io then deletes it)."""
        ident = self.ident(view)
        if ident is None:
            return None
        attributes: dict[str, Any] = {}
        for name, source in self.exported:
            value = view.get(source)
            if value is not None:
                attributes[name] = _out(value)
            elif cleared:
                attributes[name] = None
        if self.spec.membership_attribute:
            attributes[self.membership_key] = True
        return {self.spec.identifier: ident, "attributes": attributes}

    @cached_property
    def exported(self) -> tuple[tuple[str, str], ...]:
        """``(attribute, profile field)`` of every exported attribute, email first."""
        spec = self.spec
        pairs = [("email", spec.email_field)] if spec.email_field else []
        return tuple(pairs + [(name, name) for name in spec.extra_attributes])

    def digest(self) -> str:
        """Names this job's definition: a backfill is owed again when it changes (the keys
        added later count only when set, so older jobs keep their digest)."""
        spec = self.spec
        parts: list[Any] = [spec.audience, spec.id_field, spec.email_field,
                            list(spec.extra_attributes)]
        added = {k: v for k, v in (("identifier", spec.identifier),
                                   ("membership_attribute", spec.membership_attribute),
                                   ("segment_id", spec.segment_id))
                 if v != _DEFAULTS[k]}
        if added:
            parts.append(added)
        return _digest(parts, 16)


_DEFAULTS: dict[str, Any] = {"identifier": "id", "membership_attribute": False,
                             "segment_id": 0}


def member_digest(body: Mapping[str, Any]) -> str:
    """What was sent of a member, to tell a real change: its identifier and the attributes
    that have a value (a null clears what is already gone). Taken before the item gets its
    time, which is no change."""
    attributes = body["attributes"]
    if None not in attributes.values():
        return _digest(body)  # the common case, already in that shape
    return _digest({**body, "attributes": {k: v for k, v in attributes.items()
                                           if v is not None}})


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


@dataclass
class _Queue:
    """What one job queues in one transaction, before it is written."""

    job: ExportJob
    now: int  # the change's time, epoch ms
    items: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    members: list[tuple[int, str, str]] = field(default_factory=list)
    gone: list[int] = field(default_factory=list)

    @property
    def at(self) -> int:
        """The change's time as Customer.io takes it: Unix seconds."""
        return self.now // 1000

    def add(self, pid: int, action: str, who: str, **more: Any) -> None:
        body: dict[str, Any] = {self.job.spec.identifier: who, **more}
        if action not in SEGMENT_ACTIONS:  # v1 segment calls take no time
            body["timestamp"] = self.at
        self.items.append((pid, action, body))

    def identify(self, pid: int, body: dict[str, Any]) -> None:
        body["timestamp"] = self.at  # after its member digest, which leaves the time out
        self.items.append((pid, IDENTIFY, body))

    def event(self, pid: int, who: str, name: str) -> None:
        if name:
            self.add(pid, EVENT, who, name=name,
                     attributes={"audience": self.job.audience})

    def segment(self, pid: int, action: str, who: str) -> None:
        if self.job.spec.segment_id > 0:
            self.add(pid, action, who, segment_id=self.job.spec.segment_id)

    def enter(self, pid: int, body: dict[str, Any]) -> None:
        spec = self.job.spec
        who = body[spec.identifier]
        if spec.on_exit == "suppress":  # a suppressed person must be let back in first
            self.add(pid, UNSUPPRESS, who)
        self.identify(pid, body)
        if spec.event_on_enter:
            self.event(pid, who, spec.event_on_enter)
        if spec.segment_id:
            self.segment(pid, SEGMENT_ADD, who)

    def exit(self, pid: int, who: str) -> None:
        spec = self.job.spec
        if spec.membership_attribute or spec.on_exit == "attribute":
            self.identify(pid, {spec.identifier: who,
                                "attributes": {self.job.membership_key: False}})
        self.event(pid, who, spec.event_on_exit)
        self.segment(pid, SEGMENT_REMOVE, who)
        if spec.on_exit == "delete":
            self.add(pid, DELETE, who)
        elif spec.on_exit == "suppress":
            self.add(pid, SUPPRESS, who)

    def merge(self, survivor: int, primary: str, secondary: str) -> None:
        kind = self.job.spec.identifier
        self.items.append((survivor, MERGE, {"primary": {kind: primary},
                                             "secondary": {kind: secondary},
                                             "timestamp": self.at}))

    def write(self, store: Store, counts: Counts) -> None:
        """Coalesce with what the person has queued, then queue (caller's transaction)."""
        spec = self.job.spec
        pairs = [(pid, IDENTIFY) for pid, action, _b in self.items if action == IDENTIFY]
        # An add and a remove still queued cancel out, unless the person is deleted between
        # (Customer.io then forgets the segment, and the add must go again).
        cancels = spec.on_exit in ("none", "attribute")
        opposite = {SEGMENT_ADD: SEGMENT_REMOVE, SEGMENT_REMOVE: SEGMENT_ADD}
        if cancels:
            pairs += [(pid, opposite[a]) for pid, a, _b in self.items if a in opposite]
        removed = store.outbox_coalesce(spec.name, pairs) if pairs else set()
        rows = [(pid, action, orjson.dumps(body)) for pid, action, body in self.items
                if not (removed and cancels and action in opposite
                        and (pid, opposite[action]) in removed)]
        store.add_outbox(spec.name, rows, self.now)
        store.set_export_members(spec.name, self.members, self.gone)
        counts[(spec.name, "queued")] += len(rows)


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
        survivors = [d.merged_into for d in diffs if d.merged_into is not None]
        sent = store.export_members(job.name, [d.profile_id for d in diffs] + survivors)
        queue = _Queue(job, now)
        if survivors:  # merges first: the survivor's identify then lands on the merged person
            diffs = sorted(diffs, key=lambda d: d.merged_into is None)
        for d in diffs:
            last = sent.get(d.profile_id)
            if d.merged_into is not None and last is not None:
                primary = sent.get(d.merged_into)
                if primary is not None:  # both were sent: two people there, one here
                    queue.gone.append(d.profile_id)
                    if primary[0] != last[0]:
                        queue.merge(d.merged_into, primary[0], last[0])
                    continue
            if job.audience in d.members:
                view = d.view
                body = None if view is None else job.body(view, cleared=last is not None)
                if body is None:
                    counts[(job.name, "skipped")] += 1
                    continue
                digest = member_digest(body)
                if last is not None and last[1] == digest:
                    continue  # a member whose exported attributes did not change
                if last is None:
                    queue.enter(d.profile_id, body)
                else:
                    queue.identify(d.profile_id, body)
                queue.members.append((d.profile_id, body[job.spec.identifier], digest))
            elif last is not None:  # left the audience
                queue.gone.append(d.profile_id)
                queue.exit(d.profile_id, last[0])
        queue.write(store, counts)

    def backfill(self, job: ExportJob, store: Store, members: Iterable[
            tuple[int, Mapping[str, Any]]], now: int) -> Counts:
        """Queue an identify (and a segment add) for every current member
        (`existing_users`), in the caller's transaction, and remember that this job
        definition got its backfill."""
        counts: Counts = Counter()
        rows = iter(members)
        while chunk := list(islice(rows, BACKFILL_CHUNK)):
            sent = store.export_members(job.name, [pid for pid, _view in chunk])
            queue = _Queue(job, now)
            for pid, view in chunk:
                body = job.body(view, cleared=pid in sent)
                if body is None:
                    counts[(job.name, "skipped")] += 1
                    continue
                who = body[job.spec.identifier]
                queue.members.append((pid, who, member_digest(body)))
                queue.identify(pid, body)
                queue.segment(pid, SEGMENT_ADD, who)
            queue.write(store, counts)
        store.set_backfilled(job.name, job.digest())
        return counts

"""Config tests (docs/config.md): run the `tests:` cases of config files against a scratch store.

Each case gets a fresh store in a temporary directory, feeds its raw events to its stream
through the same `Engine.ingest` as production, then compares what it expects with what
happened. A case that asserts nothing fails: a test that cannot fail is a defect.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from engine.config.model import StorageSpec, TestCase
from engine.engine import Engine
from engine.errors import Diagnostic, Source, UnknownName
from engine.exports.jobs import IDENTIFY, MERGE, identifier
from engine.lang import budget
from engine.lang.budget import BudgetExceeded
from engine.lang.values import date_to_ms, format_date, ms_to_date
from engine.program import Config

# What `expect:` may hold; keys not in here are reported rather than silently ignored.
KNOWN_EXPECTATIONS = frozenset({"profile", "fields", "absent", "derived", "audiences",
                                "requests"})
FAILED_CASE = "T001"
"""The code of a failed case as a diagnostic, so CI formats report it beside config errors."""


@dataclass
class CaseResult:
    case: TestCase
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_json(self) -> dict[str, Any]:
        at = self.case.at
        where = None
        if at is not None:
            line, col = at.source.location(at.start)
            where = {"file": at.source.name, "line": line, "column": col}
        return {"name": self.case.name, "ok": self.ok, "failures": self.failures,
                "location": where}

    def diagnostic(self) -> Diagnostic:
        """A failed case as a diagnostic at the case's name in its file (`engine test --format
        github|sarif|gitlab`)."""
        at = self.case.at
        source, start, end = ((at.source, at.start, at.end) if at is not None
                              else (Source(name="<tests>", text=""), 0, 0))
        return Diagnostic(source, start, end, FAILED_CASE,
                          f"config test {self.case.name!r} failed: " + "; ".join(self.failures))


def _fixed_clock(ms: int) -> Any:
    return lambda: ms


def run_case(config: Config, case: TestCase) -> CaseResult:
    result = CaseResult(case)
    expect = case.expect or {}
    unknown = sorted(set(expect) - KNOWN_EXPECTATIONS)
    if unknown:
        result.failures.append(f"unknown expectation(s): {', '.join(unknown)}; "
                               f"known: {', '.join(sorted(KNOWN_EXPECTATIONS))}")
    # `profile` only names the profile to look at, and an empty `requests` or `derived`
    # list is an expectation too (nothing is sent, nothing is derived)
    if not (any(expect.get(k) for k in ("fields", "absent", "audiences"))
            or any(expect.get(k) is not None for k in ("derived", "requests"))):
        result.failures.append("the case asserts nothing: add `expect:` with fields, "
                               "derived events, audiences or requests")
        return result
    if config.pipeline.stream(case.stream) is None:
        result.failures.append(
            str(UnknownName("stream", case.stream, sorted(config.pipeline.streams))))
        return result
    with tempfile.TemporaryDirectory(prefix="engine-test-") as tmp:
        # "now" is the newest event's time: relative dates in audience filters see the case
        # as it happened, the same on every run
        clock = _fixed_clock(_newest(config, case))
        # a scratch SQLite store whatever the config's back end: a case tests the mappings,
        # and must neither see nor touch what a shared store holds
        scratch = StorageSpec(backend="sqlite", path=str(Path(tmp) / "test.db"))
        with Engine(config, clock=clock, storage=scratch) as eng:
            if expect.get("derived") is not None:
                _check_derived(config, case, expect["derived"], result)
            eng.ingest(case.stream, list(case.events))
            if expect.get("fields") or expect.get("absent") or expect.get("audiences"):
                _check_profile(eng, expect, result)
            if expect.get("requests") is not None:
                _check_requests(eng, expect["requests"], result)
    return result


def _newest(config: Config, case: TestCase) -> int:
    stream = config.pipeline.stream(case.stream)
    assert stream is not None
    times = [0]
    for event in case.events:
        try:
            times.append(stream.key_and_time(event, 0)[1])
        except Exception:  # noqa: S112 -- an unusable event has no time to offer
            continue
    return max(times)


def _check_requests(eng: Engine, want: Any, result: CaseResult) -> None:
    """The export requests the case queued, in order, as ``{job, action, id, attributes}``
    (an event adds its `name`, a segment call its `segment_id`; a merge names `primary` and
    `secondary` instead of `id`)."""
    got = []
    for job in eng.config.exports.jobs:
        for _id, _pid, action, body, _attempts, _created in eng.store.due_outbox(
                job, 2**62, 10_000):
            doc = orjson.loads(body)
            item: dict[str, Any] = {"job": job, "action": action}
            if action == MERGE:
                item["primary"] = identifier(doc["primary"])[1]
                item["secondary"] = identifier(doc["secondary"])[1]
            else:
                item["id"] = identifier(doc)[1]
            for key in ("name", "segment_id"):
                if key in doc:
                    item[key] = doc[key]
            if doc.get("attributes") is not None and action == IDENTIFY:
                item["attributes"] = doc["attributes"]
            got.append(item)
    if not isinstance(want, list) or len(got) != len(want) or not all(
            isinstance(w, dict) and _same(g, w) for g, w in zip(got, want, strict=False)):
        result.failures.append(f"export requests differ:\n  expected {want}\n  got      {got}")


def _check_derived(config: Config, case: TestCase, want: list[Any], result: CaseResult) -> None:
    stream = config.pipeline.stream(case.stream)
    assert stream is not None
    got: list[dict[str, Any]] = []
    for event in case.events:
        _key, ts = stream.key_and_time(event, 0)

        def visit(s: Any, ev: dict[str, Any]) -> None:
            if s is not stream:
                got.append({"stream": s.name, **ev})

        try:
            with budget.limit(config.pipeline.budget_ms):
                config.pipeline.derive(stream, event, ts, visit)
        except BudgetExceeded as exc:
            result.failures.append(exc.reason)
            return
    stripped = [{k: v for k, v in g.items() if k != "stream"} for g in got]
    if stripped != want and got != want:
        result.failures.append(f"derived events differ:\n  expected {want}\n  got      "
                               f"{stripped}")


def _check_profile(eng: Engine, expect: dict[str, Any], result: CaseResult) -> None:
    who = expect.get("profile") or {}
    if not isinstance(who, dict) or len(who) != 1:
        result.failures.append("`expect.profile` must name one identity, e.g. "
                               "{cio_customer_id: usr_1}")
        return
    ((field_name, value),) = who.items()
    profile = eng.profile(field_name, value)
    if profile is None:
        result.failures.append(f"no profile has {field_name} = {value!r}")
        return
    for name, want in (expect.get("fields") or {}).items():
        got = profile.get(name)
        if not _same(got, want):
            result.failures.append(f"field {name}: expected {want!r}, got "
                                   f"{'nothing' if got is None else repr(got)}")
    for name in expect.get("absent") or ():
        if name in profile:
            result.failures.append(f"field {name}: expected no value, got {profile[name]!r}")
    wanted = expect.get("audiences") or {}
    if wanted:
        member_of = eng.store.memberships([profile["_id"]]).get(profile["_id"], {})
        for name, want_in in wanted.items():
            if name not in eng.config.audiences.audiences:
                result.failures.append(f"audience {name}: not in the config")
            elif bool(want_in) != (name in member_of):
                result.failures.append(f"audience {name}: expected {'in' if want_in else 'out'}"
                                       f", the profile is {'in' if name in member_of else 'out'}")


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, list) and isinstance(got, list):
        return sorted(map(str, want)) == sorted(map(str, got))
    if isinstance(want, dict) and isinstance(got, dict):
        return got.keys() == want.keys() and all(_same(got[k], want[k]) for k in want)
    if hasattr(want, "isoformat"):  # YAML reads an unquoted timestamp as a datetime
        return bool(got == format_date(ms_to_date(date_to_ms(want))))
    return bool(got == want or (not isinstance(want, bool) and str(got) == str(want)
                                and not isinstance(got, bool)))


def run_config_tests(config: Config) -> list[CaseResult]:
    """Run every `tests:` case of the config, in file order."""
    return [run_case(config, case) for case in config.settings.tests]

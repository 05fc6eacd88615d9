"""Audience membership: evaluated with each profile change, enter and exit times kept, and
re-evaluated by the clock alone when a filter compares with a relative date (docs/audiences.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine import Config, load_config
from engine.engine import Engine
from engine.errors import ConfigError
from engine.pipeline.files import read_events
from tests.helpers import mapping_config

DAY = 86_400_000
T0 = 1_769_000_000_000  # 2026-01-21T12:53:20Z

MAPPING = """\
streams:
  - {name: visits, id: id, timestamp: ts}
mappings:
  - name: users
    stream: visits
    into: user
    by: [user_id]
    fields:
      - {field: user_id, expr: user, type: string}
      - {field: email, expr: email, type: string}
      - {field: last_active_ts, expr: epochms(), type: date}
      - {field: visits, expr: count(user), type: int}
      - {field: plans, expr: set(plan), type: "[]string"}
"""

AUDIENCES = """\
audiences:
  - name: active
    filter: last_active_ts > "now-30d" AND exists(email)
  - name: lapsed
    filter: last_active_ts <= "now-30d"
  - name: loyal_active
    filter: INCLUDE active AND visits >= 3
  - name: pro
    filter: plans IN ("pro", "team")
"""


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def _config(tmp_path: Path, audiences: str = AUDIENCES) -> Config:
    return mapping_config(tmp_path, MAPPING, extra=audiences)


def visit(i: int, user: str, at_ms: int, **extra: str) -> dict[str, object]:
    return {"id": f"v{i}", "user": user, "ts": at_ms, **extra}


def test_membership_follows_profile_changes_with_enter_and_exit_times(tmp_path: Path) -> None:
    clock = Clock(T0)
    with Engine(_config(tmp_path), clock=clock) as eng:
        eng.ingest("visits", [visit(1, "u1", T0, email="a@x.com"), visit(2, "u2", T0)])
        assert eng.audience_sizes() == {"active": 1, "lapsed": 0, "loyal_active": 0, "pro": 0}
        clock.ms = T0 + 1000
        eng.ingest("visits", [visit(3, "u1", T0 + 1000, plan="pro"),
                              visit(4, "u1", T0 + 1000)])
        assert eng.audience_sizes() == {"active": 1, "lapsed": 0, "loyal_active": 1, "pro": 1}
        members = list(eng.audience_members("loyal_active"))
        assert [m["user_id"] for m in members] == ["u1"]
        assert members[0]["_entered"] == "2026-01-21T12:53:21.000Z"
        pid = members[0]["_id"]
        changes = eng.store.audience_changes(pid)
    assert changes == [("active", pid, 1, T0), ("loyal_active", pid, 1, T0 + 1000),
                       ("pro", pid, 1, T0 + 1000)]


def test_a_relative_date_filter_exits_exactly_30_days_after_the_last_activity(
        tmp_path: Path) -> None:
    clock = Clock(T0)
    with Engine(_config(tmp_path), clock=clock) as eng:
        eng.ingest("visits", [visit(1, "u1", T0, email="a@x.com")])
        assert eng.next_due() == T0 + 30 * DAY
        clock.ms = T0 + 30 * DAY - 1
        assert eng.run_due() == 0  # nothing is due yet: no evaluation at all
        assert eng.audience_sizes()["active"] == 1
        clock.ms = T0 + 30 * DAY
        assert eng.run_due() == 1
        assert eng.audience_sizes() == {"active": 0, "lapsed": 1, "loyal_active": 0, "pro": 0}
        pid = eng.profile("user_id", "u1")["_id"]  # type: ignore[index]
        changes = eng.store.audience_changes(pid)
        assert ("active", pid, 0, T0 + 30 * DAY) in changes
        assert ("lapsed", pid, 1, T0 + 30 * DAY) in changes
        # a new visit brings it back, and schedules the next exit from that visit
        clock.ms = T0 + 40 * DAY
        eng.ingest("visits", [visit(2, "u1", T0 + 40 * DAY)])
        assert eng.audience_sizes()["active"] == 1
        assert eng.next_due() == T0 + 70 * DAY


def test_a_replay_changes_only_what_really_changed(tmp_path: Path) -> None:
    clock = Clock(T0)
    with Engine(_config(tmp_path), clock=clock) as eng:
        eng.ingest("visits", [visit(1, "u1", T0, email="a@x.com", plan="pro")])
        before = len(eng.store.audience_changes())
        clock.ms = T0 + 5
        eng.replay()
        assert len(eng.store.audience_changes()) == before
        assert eng.audience_sizes()["pro"] == 1


def test_an_unknown_audience_is_named(tmp_path: Path) -> None:
    with Engine(_config(tmp_path)) as eng, pytest.raises(Exception, match="unknown audience"):
        list(eng.audience_members("nope"))


def test_include_cycles_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cycle"):
        _config(tmp_path, "audiences:\n  - {name: a, filter: INCLUDE b}\n"
                          "  - {name: b, filter: INCLUDE a}\n")


def test_bulk_ingest_gives_the_memberships_event_by_event_ingest_gives(tmp_path: Path) -> None:
    events = [visit(i, f"u{i % 5}", T0 - (i % 7) * 9 * DAY, email=f"{i % 5}@x.com",
                    **({"plan": "pro"} if i % 3 == 0 else {})) for i in range(40)]
    lines = tmp_path / "in.jsonl"
    lines.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    found = []
    for workers in (0, 1):
        directory = tmp_path / f"w{workers}"
        directory.mkdir()
        with Engine(_config(directory), clock=Clock(T0), batch_size=7) as eng:
            eng.ingest("visits", read_events([str(lines)], parse=workers == 0), workers=workers)
            found.append((eng.audience_sizes(),
                          sorted((a, p, e, at) for a, p, e, at in eng.store.audience_changes()),
                          eng.next_due()))
    assert found[0] == found[1]
    assert found[0][0]["active"] + found[0][0]["lapsed"] == 5
    # by hand: each u_k has 8 visits, and for every k one of them has i % 7 == 0 (a visit at
    # T0) and one has i % 3 == 0 (plan pro); so all five are active, loyal and pro, none has
    # lapsed, and the next change is the active ones' exit 30 days after T0
    assert found[0][0] == {"active": 5, "lapsed": 0, "loyal_active": 5, "pro": 5}
    assert found[0][2] == T0 + 30 * DAY
    for workers in (0, 1):
        with Engine(_config(tmp_path / f"w{workers}"), read_only=True) as eng:
            members = {p["user_id"]: (p["visits"], p["plans"], p["last_active_ts"])
                       for p in eng.audience_members("loyal_active")}
        assert members == {f"u{k}": (8, ["pro"], "2026-01-21T12:53:20.000Z") for k in range(5)}


def test_audience_list_and_members_commands(tmp_path: Path) -> None:
    config = _config(tmp_path)
    with Engine(config, clock=Clock(T0)) as eng:
        eng.ingest("visits", [visit(1, "u1", T0, plan="pro"), visit(2, "u2", T0, plan="team"),
                              visit(3, "u3", T0)])

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "engine", "audience", *args, "--config",
                               str(tmp_path / "config.yaml")], capture_output=True, text=True)

    listed = run("list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert {a["name"]: a["members"] for a in json.loads(listed.stdout)}["pro"] == 2
    members = run("members", "pro", "--limit", "1")
    assert [json.loads(line)["user_id"] for line in members.stdout.splitlines()] == ["u1"]
    unknown = run("members", "nope")
    assert unknown.returncode == 1 and "unknown audience 'nope'" in unknown.stderr


def test_config_tests_check_audiences_and_export_requests() -> None:
    import dataclasses

    from engine.testing import run_case

    config = load_config(Path(__file__).resolve().parents[2] / "config.example.yaml")
    case = next(c for c in config.settings.tests if "engaged member" in c.name)
    assert run_case(config, case).ok
    wrong = dataclasses.replace(case, expect={
        **case.expect, "audiences": {"engaged_email": False},
        "requests": [{"job": "engaged_to_customerio", "action": "delete", "id": "usr_1"}]})
    failures = run_case(config, wrong).failures
    assert any("audience engaged_email: expected out" in f for f in failures)
    assert any("export requests differ" in f for f in failures)


def test_a_filterql_statement_is_a_filter_too(tmp_path: Path) -> None:
    filterql = ('audiences:\n  - name: loyal\n    filter: "FILTER AND (exists(email), '
                'visits >= 2) FROM user ALIAS loyal"\n')
    with Engine(_config(tmp_path, filterql), clock=Clock(T0)) as eng:
        eng.ingest("visits", [visit(1, "u1", T0, email="a@x.com"), visit(2, "u1", T0),
                              visit(3, "u2", T0, email="b@x.com")])
        assert eng.audience_sizes() == {"loyal": 1}


def test_a_filter_reads_a_key_of_a_time_map_against_a_relative_date(tmp_path: Path) -> None:
    # The shipped Customer.io mapping's `cio_last_event_ts` (map[string]time), one key read
    # by the audience, with its exit scheduled exactly 7 days after the delivery.
    root = Path(__file__).resolve().parents[2]
    fixture = root / "tests" / "fixtures" / "customerio" / "email_delivered.json"
    delivered = json.loads(fixture.read_text())
    at = delivered["timestamp"] * 1000
    config = mapping_config(
        tmp_path,
        (root / "mappings" / "customerio.yaml").read_text(),
        name="cio.yaml",
        extra="audiences:\n"
        "  - name: delivered_7d\n"
        '    filter: cio_last_event_ts.email_delivered > "now-7d"\n'
        "  - name: clicked_7d\n"
        '    filter: cio_last_event_ts.email_clicked > "now-7d"\n',
    )
    clock = Clock(at + 1000)
    with Engine(config, clock=clock) as eng:
        eng.ingest("customerio", [delivered])
        assert eng.audience_sizes() == {"delivered_7d": 1, "clicked_7d": 0}
        assert eng.next_due() == at + 7 * DAY
        clock.ms = at + 7 * DAY
        assert eng.run_due() == 1
        assert eng.audience_sizes() == {"delivered_7d": 0, "clicked_7d": 0}

"""Export jobs end to end (docs/exports.md): webhooks in → profiles → audience → outbox →
the Customer.io sandbox, over real HTTP on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import load_config
from engine.engine import Engine
from engine.exports import service
from engine.exports.sandbox import Sandbox, running_sandbox
from engine.pipeline.files import read_events

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "customerio"
DAY = 86_400_000
T_FIXTURES = 1_769_500_000_000  # 2026-01-27T07:46:40Z, the day after the sample webhooks


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[Sandbox, str]]:
    box = Sandbox("site-1", "key-1")
    with running_sandbox(box) as url:
        yield box, url


def write_job_config(tmp_path: Path, url: str, spec: dict[str, Any], audience: str) -> Path:
    """A config in `tmp_path`: the built-in Customer.io mapping, audience `engaged_email` with
    filter `audience`, and one export job `spec` on an authorization sending to `url`."""
    path = tmp_path / "config.yaml"
    path.write_text(f"""\
version: 1
storage: {{path: {tmp_path / "engine.db"}}}
authorizations:
  cio_main: {{provider: customerio, site_id: site-1, api_key: key-1, base_url: "{url}"}}
mappings: [{ROOT / "mappings" / "customerio.yaml"}]
audiences:
  - name: engaged_email
    filter: {json.dumps(audience)}
exports:
  - {json.dumps(spec)}
""")
    return path


def _config(tmp_path: Path, url: str, audience: str = 'last_active_ts > "now-30d" AND '
            'exists(email)', **job: Any) -> Path:
    spec = {"name": "engaged_to_customerio", "provider": "customerio",
            "authorization": "cio_main", "audience": "engaged_email",
            "id_field": "cio_customer_id", "email_field": "email",
            "extra_attributes": ["cio_channels", "last_active_ts"], "on_exit": "delete",
            "rate_limit_per_s": 0, **job}
    return write_job_config(tmp_path, url, spec, audience)


def _batches(box: Sandbox) -> list[dict[str, Any]]:
    return [op for r in box.requests() if r["path"] == "/api/v2/batch"
            for op in r["body"]["batch"]]


def _fixtures() -> list[str]:
    return [str(p) for p in sorted(FIXTURES.glob("*.json"))]


def test_members_are_identified_then_updated_then_deleted(
        tmp_path: Path, sandbox: tuple[Sandbox, str]) -> None:
    box, url = sandbox
    box.clear()
    clock = Clock(T_FIXTURES)
    with Engine(load_config(_config(tmp_path, url)), clock=clock) as eng:
        eng.ingest("customerio", read_events(_fixtures()))
        stats, backfill = service.run(eng, "engaged_to_customerio")
        assert backfill is None  # existing_users is off
        ops = _batches(box)
        assert sorted(op["identifiers"]["id"] for op in ops) == [
            "usr_31555", "usr_48213", "usr_90077"]
        assert all(op["action"] == "identify" for op in ops)
        maria = box.people()["usr_48213"]
        assert maria["email"] == "maria.lopez@example.com"
        assert maria["last_active_ts"] == 1769506252  # Unix seconds, not ms
        assert "email" in maria["cio_channels"]
        assert stats.sent == 3 and stats.dead == 0

        # nothing changed: nothing is sent again
        box.clear("requests")
        eng.ingest("customerio", read_events(_fixtures()))  # every one a duplicate
        assert service.run(eng, "engaged_to_customerio")[0].sent == 0
        # an exported attribute changes while a member: that member alone is sent again
        later = {"event_id": "later-1", "object_type": "sms", "metric": "clicked",
                 "timestamp": 1769490000,
                 "data": {"identifiers": {"id": "usr_48213"}, "recipient": "+15550100"}}
        eng.ingest("customerio", [later])
        assert service.run(eng, "engaged_to_customerio")[0].sent == 1
        (op,) = _batches(box)
        assert op["identifiers"] == {"id": "usr_48213"} and "sms" in op["attributes"][
            "cio_channels"]

        # 30 days after the last activity the members leave; on_exit: delete
        box.clear("requests")
        clock.ms = 1769506252_000 + 30 * DAY
        assert eng.run_due() == 3
        assert service.run(eng, "engaged_to_customerio")[0].sent == 3
        assert {(op["action"], op["identifiers"]["id"]) for op in _batches(box)} == {
            ("delete", "usr_48213"), ("delete", "usr_31555"), ("delete", "usr_90077")}
        assert "usr_48213" not in box.people()
        assert eng.store.outbox_depth() == 0


def test_existing_users_backfill_and_v1(tmp_path: Path, sandbox: tuple[Sandbox, str]) -> None:
    box, url = sandbox
    box.clear()
    with Engine(load_config(_config(tmp_path, url, "exists(email)", api="v1",
                                    existing_users=True)), clock=Clock(T_FIXTURES)) as eng:
        eng.ingest("customerio", read_events(_fixtures()))
        # the email-only member has no cio_customer_id: skipped, not sent
        assert eng.export_counts[("engaged_to_customerio", "skipped")] == 1
        stats, backfill = service.run(eng, "engaged_to_customerio")
        assert backfill is not None  # the job owed its backfill: queued after the live ones
        assert backfill[("engaged_to_customerio", "skipped")] == 1
        # the backfill's identify of a member replaced the live one still queued
        puts = sorted(r["path"] for r in box.requests() if r["method"] == "PUT")
        assert puts == ["/api/v1/customers/usr_31555", "/api/v1/customers/usr_48213",
                        "/api/v1/customers/usr_90077"]
        assert stats.sent == 3
        box.clear("requests")
        assert service.run(eng, "engaged_to_customerio")[1] is None  # backfilled already
        assert all(r["path"].endswith("/region") for r in box.requests())
        again = service.run(eng, "engaged_to_customerio", existing_users=True)
        assert again[0].sent == 3


def test_on_exit_attribute_sets_in_audience_false(tmp_path: Path,
                                                  sandbox: tuple[Sandbox, str]) -> None:
    box, url = sandbox
    box.clear()
    clock = Clock(T_FIXTURES)
    with Engine(load_config(_config(tmp_path, url, on_exit="attribute")), clock=clock) as eng:
        eng.ingest("customerio", read_events(_fixtures()))
        service.run(eng, "engaged_to_customerio")
        box.clear("requests")
        clock.ms = 1769506252_000 + 30 * DAY
        eng.run_due()
        assert service.run(eng, "engaged_to_customerio")[0].sent == 3
    assert {(op["action"], op["identifiers"]["id"], json.dumps(op["attributes"]))
            for op in _batches(box)} == {
        ("identify", who, '{"in_engaged_email": false}')
        for who in ("usr_48213", "usr_31555", "usr_90077")}
    assert box.people()["usr_48213"]["in_engaged_email"] is False


def test_the_rate_limit_spaces_requests() -> None:
    from engine.exports.runner import TokenBucket

    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(10, lambda: now[0], sleep)
    for _ in range(25):
        bucket.take()
    assert now[0] == pytest.approx(1.5)  # a burst of 10, then one every 0.1 s
    assert len(slept) == 15
    unlimited = TokenBucket(0, lambda: now[0], sleep)
    for _ in range(1000):
        unlimited.take()
    assert len(slept) == 15

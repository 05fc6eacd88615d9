"""`engine export dead-letters JOB [--replay]` and `engine export pause|resume JOB`
(docs/cli.md, docs/customerio.md "Operations"), against a sandbox that refuses, then accepts."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import load_config
from engine.engine import Engine
from engine.exports import service
from engine.exports.sandbox import Sandbox, parse_script, running_sandbox
from engine.pipeline.files import read_events
from tests.exports.test_export_jobs import T_FIXTURES, Clock, _config, _fixtures

JOB = "engaged_to_customerio"


@pytest.fixture
def sandbox() -> Iterator[tuple[Sandbox, str]]:
    box = Sandbox("site-1", "key-1")
    with running_sandbox(box) as url:
        yield box, url


def engine(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args, "--config", str(config)],
        capture_output=True,
        text=True,
    )


def _refused(tmp_path: Path, box: Sandbox, url: str) -> Path:
    """A store whose job's three members were all refused for good (400)."""
    config = _config(tmp_path, url, "exists(email)")
    box.add_script(parse_script([{"status": 200}, {"status": 400}]))  # the check, the batch
    with Engine(load_config(config), clock=Clock(T_FIXTURES)) as eng:
        eng.ingest("customerio", read_events(_fixtures()))
        stats, _ = service.run(eng, JOB)
    assert (stats.sent, stats.dead) == (0, 3)
    return config


def test_dead_letters_are_listed_then_replayed_and_sent(
    tmp_path: Path, sandbox: tuple[Sandbox, str]
) -> None:
    box, url = sandbox
    config = _refused(tmp_path, box, url)

    listed = engine(config, "export", "dead-letters", JOB, "--format", "json")
    assert listed.returncode == 0, listed.stderr
    letters = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(d["job"], d["action"], d["status"]) for d in letters] == [(JOB, "identify", 400)] * 3
    assert len({d["profile_id"] for d in letters}) == 3
    assert all(d["identifiers"] and d["response"] and d["at"] for d in letters)

    text = engine(config, "export", "dead-letters", JOB, "--limit", "2")
    assert text.returncode == 0 and text.stdout.count("\n#") + 1 == 2
    assert "2 or more dead letter(s) of engaged_to_customerio" in text.stderr

    replayed = engine(config, "export", "dead-letters", JOB, "--replay")
    assert replayed.returncode == 0, replayed.stderr
    assert "put 3 dead letter(s) of engaged_to_customerio back in its outbox" in replayed.stderr
    assert replayed.stdout == ""  # none left
    again = engine(config, "export", "dead-letters", JOB, "--replay")
    assert "put 0 dead letter(s)" in again.stderr

    sent = engine(config, "export", "run", JOB)
    assert sent.returncode == 0, sent.stderr
    assert "3 sent" in sent.stdout and "0 dead" in sent.stdout
    assert sorted(box.people()) == ["usr_31555", "usr_48213", "usr_90077"]


def test_pause_holds_a_job_until_resume(tmp_path: Path, sandbox: tuple[Sandbox, str]) -> None:
    box, url = sandbox
    config = _config(tmp_path, url, "exists(email)")
    with Engine(load_config(config), clock=Clock(T_FIXTURES)) as eng:
        eng.ingest("customerio", read_events(_fixtures()))

    paused = engine(config, "export", "pause", JOB)
    assert paused.returncode == 0, paused.stderr
    assert "paused by the operator since" in paused.stdout
    status = json.loads(engine(config, "status", "--json").stdout)
    (job,) = status["exports"]
    assert (job["state"], job["paused_by"], job["outbox"]) == ("paused", "operator", 3)
    assert "paused by the operator" in engine(config, "status").stdout

    held = engine(config, "export", "run", JOB)
    assert held.returncode == 1 and "paused by the operator" in held.stderr
    assert "0 sent" in held.stdout and "3 left in the outbox" in held.stdout
    assert box.people() == {}

    resumed = engine(config, "export", "resume", JOB)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed; 3 item(s) in its outbox to send" in resumed.stdout
    assert "was not paused" in engine(config, "export", "resume", JOB).stdout
    sent = engine(config, "export", "run", JOB)
    assert sent.returncode == 0 and "3 sent" in sent.stdout
    (job,) = json.loads(engine(config, "status", "--json").stdout)["exports"]
    assert (job["state"], job["paused_by"]) == ("active", None)


@pytest.mark.parametrize(
    "command", [["dead-letters"], ["dead-letters", "--replay"], ["pause"], ["resume"]]
)
def test_an_unknown_job_is_named_with_a_close_one(tmp_path: Path, command: list[str]) -> None:
    config = _config(tmp_path, "http://127.0.0.1:9", "exists(email)")
    run = engine(config, "export", command[0], "engaged_to_customrio", *command[1:])
    assert run.returncode == 1
    assert (
        "unknown export job 'engaged_to_customrio'; jobs in the config: "
        "engaged_to_customerio; did you mean `engaged_to_customerio`?"
    ) in run.stderr


def test_a_limit_below_one_is_a_usage_error(tmp_path: Path) -> None:
    config = _config(tmp_path, "http://127.0.0.1:9", "exists(email)")
    run = engine(config, "export", "dead-letters", JOB, "--limit", "0")
    assert run.returncode == 2 and "--limit must be 1 or more" in run.stderr

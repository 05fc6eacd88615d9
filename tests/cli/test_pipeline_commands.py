"""`engine map`, `profile get --explain`, `profile export`, `test` and `replay` (docs/cli.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config.model import StorageSpec
from engine.store import Maintenance, open_maintenance
from tests.expected import FIXTURE_PEOPLE, people

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "customerio"


def engine(*args: str, db: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--set", f"storage.path={db}"] if db is not None else []
    return subprocess.run([sys.executable, "-m", "engine", *args, "--config",
                           str(ROOT / "config.example.yaml"), *extra],
                          capture_output=True, text=True, cwd=ROOT)


def test_map_shows_derived_events_and_field_updates_with_their_conditions() -> None:
    run = engine("map", "--stream", "customerio", "--event", f"@{FIXTURES / 'email_opened.json'}",
                 "--format", "json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert [s["stream"] for s in report["streams"]] == ["customerio", "customerio_events"]
    rows = {r["field"]: r for r in report["streams"][1]["mappings"][0]["fields"]}
    assert rows["cio_email_last_open_ts"]["value"] == "2026-01-26T09:45:00.000Z"
    assert "opened" in rows["cio_email_last_open_ts"]["if"]
    assert rows["cio_events"]["value"] == {"email_opened": 1}


def test_map_show_code_prints_one_function_per_stream_and_mapping() -> None:
    run = engine("map", "--stream", "customerio", "--event", '{"object_type": "email"}',
                 "--show-code")
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("def _mapping(ev, ts):") == 2


def test_ingest_profile_get_explain_export_and_replay(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    files = sorted(str(p) for p in FIXTURES.glob("*.json"))
    run = engine("ingest", "--stream", "customerio", *files, db=db)
    assert run.returncode == 0, run.stderr
    assert f"read {len(files)}, accepted {len(files)}, duplicates 0, rejected 0" in run.stdout

    got = engine("profile", "get", "cio_customer_id=usr_48213", db=db)
    assert got.returncode == 0
    profile = json.loads(got.stdout)
    expected = json.loads((ROOT / "tests" / "fixtures" / "expected" / "usr_48213.json")
                          .read_text())
    assert {k: v for k, v in profile.items() if not k.startswith("_")} == expected

    explained = json.loads(engine("profile", "get", "email=maria.lopez@example.com",
                                  "--explain", db=db).stdout)
    assert explained["fields"]["hashedurls"]["expr"] == "valuect(hash(urlmain(href)))"

    missing = engine("profile", "get", "email=nobody@example.com", db=db)
    assert missing.returncode == 1 and "no profile" in missing.stderr

    export = engine("profile", "export", db=db)
    assert len(export.stdout.splitlines()) == 4
    exported = [json.loads(line) for line in export.stdout.splitlines()]
    assert people(exported) == FIXTURE_PEOPLE

    replay = engine("replay", db=db)
    assert replay.returncode == 0 and "4 profiles" in replay.stdout
    replayed = json.loads(engine("profile", "get", "cio_customer_id=usr_48213", db=db).stdout)
    assert {k: v for k, v in replayed.items() if k != "_id"} == \
        {k: v for k, v in profile.items() if k != "_id"}
    assert people(json.loads(line) for line in engine("profile", "export", db=db)
                  .stdout.splitlines()) == FIXTURE_PEOPLE


def test_ingest_reports_bad_lines_and_exits_1(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks.jsonl"
    hooks.write_text((FIXTURES / "push_opened.json").read_text().replace("\n", "") + "\n"
                     "{oops\n")
    run = engine("ingest", "--stream", "customerio", str(hooks), db=tmp_path / "e.db")
    assert run.returncode == 1
    assert "accepted 1" in run.stdout and f"{hooks}:2: invalid JSON" in run.stderr


def test_unknown_stream_is_a_clear_error(tmp_path: Path) -> None:
    run = engine("ingest", "--stream", "nope", str(FIXTURES / "push_opened.json"),
                 db=tmp_path / "e.db")
    assert run.returncode != 0 and "unknown stream 'nope'" in run.stderr


_FAILING_CASES = """\
version: 1
mappings: [{mapping}]
tests:
  - name: a wrong expectation
    stream: customerio
    events:
      - {{event_id: f1, object_type: email, metric: opened, timestamp: 1769420700,
         data: {{identifiers: {{id: usr_1, email: ana@example.com}}}}}}
    expect:
      profile: {{cio_customer_id: usr_1}}
      fields: {{email: bob@example.com}}
  - name: no expectation at all
    stream: customerio
    events:
      - {{event_id: f2, object_type: email, metric: opened, timestamp: 1769420700,
         data: {{identifiers: {{id: usr_2}}}}}}
  - name: only which profile to look at
    stream: customerio
    events:
      - {{event_id: f3, object_type: email, metric: opened, timestamp: 1769420700,
         data: {{identifiers: {{id: usr_3}}}}}}
    expect: {{profile: {{cio_customer_id: usr_3}}}}
  - name: no requests is an expectation
    stream: customerio
    events:
      - {{event_id: f4, object_type: email, metric: opened, timestamp: 1769420700,
         data: {{identifiers: {{id: usr_4}}}}}}
    expect: {{requests: []}}
"""


def test_config_tests_pass_and_a_failing_case_fails(tmp_path: Path) -> None:
    ok = engine("test")
    assert ok.returncode == 0, ok.stdout
    assert "19 passed, 0 failed" in ok.stdout

    # docs/config.md: a case fails on a wrong value, and a case that asserts nothing fails
    config = tmp_path / "config.yaml"
    config.write_text(_FAILING_CASES.format(mapping=ROOT / "mappings" / "customerio.yaml"))
    run = subprocess.run([sys.executable, "-m", "engine", "test", "--config", "config.yaml",
                          "--set", f"storage.path={tmp_path / 'engine.db'}"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 1, run.stdout
    ours = [line for line in run.stdout.splitlines() if "config.yaml:" in line]
    assert ours == ["FAIL config.yaml:4:5: a wrong expectation",
                    "FAIL config.yaml:12:5: no expectation at all",
                    "FAIL config.yaml:17:5: only which profile to look at",
                    "ok   config.yaml:23:5: no requests is an expectation"]
    assert "field email: expected 'bob@example.com', got 'ana@example.com'" in run.stdout
    assert run.stdout.count("the case asserts nothing") == 2
    assert run.stdout.rstrip().endswith("18 passed, 3 failed")


def test_errors_lists_dead_letters_and_replay_clears_them_after_a_fix(tmp_path: Path) -> None:
    mapping = tmp_path / "signups.yaml"
    config = tmp_path / "config.yaml"
    config.write_text(f"version: 1\nstorage: {{path: {tmp_path / 'e.db'}}}\n"
                      "mappings: [signups.yaml]\n")
    text = ("streams:\n  - {name: signups, id: id}\nmappings:\n  - name: users\n"
            "    stream: signups\n    into: user\n    by: [user_id]\n    fields:\n"
            "      - {field: user_id, expr: user, type: string}\n"
            "      - {field: age, expr: %s, type: %s}\n")
    mapping.write_text(text % ("toint(age)", "int"))
    events = tmp_path / "in.jsonl"
    events.write_text('{"id": "a", "user": "u1", "age": "old"}\n{"id": "b", "user": "u2"}\n')

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "engine", *args, "--config", str(config)],
                              capture_output=True, text=True, cwd=ROOT)

    ingest = run("ingest", "--stream", "signups", str(events))
    assert ingest.returncode == 0 and "dead letters 1" in ingest.stdout
    listed = run("errors", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    (letter,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert letter["event"] == {"id": "a", "user": "u1", "age": "old"}
    assert letter["reason"] == "mapping users: age failed to evaluate"
    assert "1 dead letter(s)" in run("errors").stderr

    mapping.write_text(text % ("age", "string"))  # the fix: keep the text
    fixed = run("errors", "--replay")
    assert fixed.returncode == 0 and "0 dead letter(s)" in fixed.stderr
    profile = run("profile", "get", "user_id=u1")
    assert json.loads(profile.stdout)["age"] == "old"


def test_a_store_path_that_cannot_be_made_is_a_clear_error_not_a_traceback(
        tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    run = engine("ingest", "--stream", "customerio", str(FIXTURES / "email_opened.json"),
                 db=tmp_path / "file" / "x.db")
    assert run.returncode == 3, run.stderr
    assert "Traceback" not in run.stderr
    assert "cannot open the store at" in run.stderr


def test_ingest_copies_the_write_ahead_logs_on_a_thread_beside_its_commits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bulk load's commits leave the copying to the store's upkeep, run for the whole
    ingest and stopped before the store closes (which copies what is left)."""
    from engine.cli import pipeline
    from engine.cli.main import main

    seen: list[str] = []

    class Upkeep:
        def __init__(self, real: Maintenance) -> None:
            self.real = real

        def start(self) -> None:
            seen.append("start")
            self.real.start()

        def stop(self) -> None:
            seen.append("stop")
            self.real.stop()

    def upkeep(storage: StorageSpec) -> Upkeep:
        return Upkeep(open_maintenance(storage))

    monkeypatch.setattr(pipeline, "open_maintenance", upkeep)
    db = tmp_path / "e.db"
    files = sorted(str(p) for p in FIXTURES.glob("*.json"))
    with pytest.raises(SystemExit) as exit_:
        main(["ingest", "--stream", "customerio", *files, "--config",
              str(ROOT / "config.example.yaml"), "--set", f"storage.path={db}"])
    assert exit_.value.code == 0 and f"accepted {len(files)}," in capsys.readouterr().out
    assert seen == ["start", "stop"]
    assert not Path(f"{db}-wal").exists()  # the store closed with everything copied
    assert people([json.loads(line) for line in engine("profile", "export", db=db)
                   .stdout.splitlines()]) == FIXTURE_PEOPLE

"""`engine eval` end to end, as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_hash_of_urlmain() -> None:
    result = run("eval", "hash(urlmain(href))",
                 "--event", '{"href":"https://www.lytics.io/?utm_source=google"}')
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1272651684649158109\n"


def test_two_diagnostics_with_carets() -> None:
    result = run("eval", 'eq(object_type, "email") AND epochs() > 5 AND toint("1", "2", "3")')
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == ("<expr>:1:30: error[E101]: unknown function `epochs`; "
                        "did you mean `epochms`?")
    assert lines[2] == "  | " + " " * 29 + "^" * 6
    assert lines[3].startswith("<expr>:1:47: error[E102]: `toint` takes exactly 1 argument, got 3")
    assert lines[5] == "  | " + " " * 46 + "^" * 20
    assert len(lines) == 6
    assert result.stdout == ""


def test_dates_print_as_rfc3339_utc_with_milliseconds() -> None:
    result = run("eval", "now()", "--at", "2026-01-26T10:46:00+01:00")
    assert result.stdout == '"2026-01-26T09:46:00.000Z"\n'


def test_event_from_file_and_missing_value(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"data": {"identifiers": {"email": "Bob <Bob@Bob.com>"}}}')
    assert run("eval", "email(data.identifiers.email)", "--event", f"@{event}").stdout \
        == '"bob@bob.com"\n'
    assert run("eval", "nosuchfield", "--event", f"@{event}").stdout == "null\n"


def test_maps_and_lists() -> None:
    assert run("eval", "valuect(hourofday())", "--at", "2014-04-07T16:58:55Z").stdout \
        == '{"16":1}\n'
    assert run("eval", 'split("a,b", ",")').stdout == '["a","b"]\n'


def test_bad_event_json_exits_1_naming_the_problem() -> None:
    result = run("eval", "x", "--event", "{not json")
    assert result.returncode == 1
    assert "--event is not valid JSON" in result.stderr
    result = run("eval", "x", "--event", "[1, 2]")
    assert result.returncode == 1
    assert "must be a JSON object" in result.stderr


def test_bad_time_and_usage_errors() -> None:
    assert run("eval", "x", "--at", "yesterday-ish").returncode == 1
    assert run("eval").returncode == 2
    assert run("eval", "x", "--event", "@/nonexistent/file.json").returncode == 2

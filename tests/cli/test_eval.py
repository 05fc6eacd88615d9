"""`engine eval` end to end, as a user runs it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main


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



_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
_EVENT = json.dumps(
    {
        "n": [1, 2, 4],
        "ua": _UA,
        "doc": '{"a": {"b": [1, 2]}}',
        "m": {"a": "x", "b": "y"},
        "urls": ["http://www.a.com/x", "https://b.org/y?q=1"],
    }
)
_UUID = re.compile(r'"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"\n')
_UA_MAP = (
    '{"bot":"false","mobile":"false","mozilla":"5.0","platform":"Windows NT 10.0",'
    '"os":"Windows 10","engine":"AppleWebKit","engine_version":"537.36","browser":"Chrome",'
    '"browser_version":"120.0.0.0"}'
)


@pytest.mark.parametrize(
    ("expr", "printed"),
    [
        pytest.param(expr, printed, id=expr.split("(")[0])
        for expr, printed in [
            ("avg(n)", "2.3333333333333335"),
            ('cast("12" AS int)', "12"),
            ('char_length("héllo")', "5"),
            ("domains(urls)", '["a.com","b.org"]'),
            ("hosts(urls)", '["www.a.com","b.org"]'),
            ('ipfilter("10.1.2.3", "10.0.0.0/8")', "true"),
            ('json.jmespath(doc, "a.b[1]")', "2"),
            ("mapinvert(m)", '{"x":"a","y":"b"}'),
            ('maptime("Hello")', '{"hello":"2014-04-07T16:58:55.000Z"}'),
            ("pow(2, 10)", "1024.0"),
            ("sqrt(16)", "4.0"),
            ('unixtrunc("1438445529707", "seconds")', '"1438445529.707"'),
            ('useragent(ua, "os")', '"Windows 10"'),
            ("useragent.map(ua)", _UA_MAP),
            ("uuid()", None),  # a new one each time: its shape
        ]
    ],
)
def test_each_function_added_from_qlbridge(
    expr: str, printed: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["eval", expr, "--event", _EVENT, "--at", "2014-04-07T16:58:55Z"])
    out, err = capsys.readouterr()
    assert exit_.value.code == 0, err
    if printed is None:
        assert _UUID.fullmatch(out), out
    else:
        assert out == printed + "\n"

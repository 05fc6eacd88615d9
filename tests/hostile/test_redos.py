"""Patterns that take a backtracking matcher minutes must cost an event milliseconds.

Found with mappings holding `regex.match(x, "^(a+)+$")` (37 s on 31 characters), `LIKE
"*a*a*a*a*a*b"` (past 290 s on 2,000) and `LIKE "*a*b"` (quadratic: 44 s on 400 KB): the
processor froze on the event and ignored SIGTERM. Regexes now run on RE2 and globs on a linear
matcher; a pattern RE2 refuses (a backreference) is an E109 diagnostic at load.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from engine import load_config
from engine.engine import Engine
from tests.server.conftest import ENGINE, write_config

# Far more than the fixed engine needs, far less than the patterns took before.
DEADLINE_S = 30

REDOS_MAPPING = """\
streams:
  - {name: customerio}  # the stock import's stream
  - {name: hostile, id: id}
mappings:
  - name: hostile
    stream: hostile
    into: user
    by: [uid]
    fields:
      - {field: uid, expr: uid, type: string}
      - {field: nested, expr: 'regex.match(name, "^(a+)+$")', type: bool}
      - {field: stars, expr: 'name LIKE "*a*a*a*a*a*b"', type: bool}
      - {field: two, expr: 'body LIKE "*a*b"', type: bool}
      - {field: seen, expr: count(uid), type: int}
"""


def _config(directory: Path, mapping: str = REDOS_MAPPING) -> Path:
    path = directory / "hostile.yaml"
    path.write_text(mapping)
    return write_config(directory, mapping=path)


def test_catastrophic_patterns_cost_an_event_milliseconds(tmp_path: Path) -> None:
    config = _config(tmp_path)
    events = [
        {"id": "1", "uid": "nested", "name": "a" * 31 + "!"},
        {"id": "2", "uid": "stars", "name": "a" * 2000},
        {"id": "3", "uid": "two", "body": "a" * 400_000},
        {"id": "4", "uid": "good", "name": "aaaaab", "body": "xaxb"},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    out = subprocess.run([str(ENGINE), "ingest", "--config", str(config), "--stream", "hostile",
                          str(path)], capture_output=True, text=True, timeout=DEADLINE_S)
    assert out.returncode == 0, out.stderr
    assert "accepted 4" in out.stdout
    with Engine(load_config(config), read_only=True) as eng:
        profiles = {uid: eng.profile("uid", uid) for uid in ("nested", "stars", "two", "good")}
    assert {uid: p and p["seen"] for uid, p in profiles.items()} == {
        "nested": 1, "stars": 1, "two": 1, "good": 1}
    good = profiles["good"]
    assert good is not None and (good["stars"], good["two"]) == (True, True)


def test_a_pattern_re2_refuses_is_a_diagnostic_not_a_surprise(tmp_path: Path) -> None:
    mapping = REDOS_MAPPING.replace('"^(a+)+$"', r'"(a+)\\1"')
    config = _config(tmp_path, mapping)
    out = subprocess.run([str(ENGINE), "validate", "--config", str(config)],
                         capture_output=True, text=True, timeout=DEADLINE_S)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    line = next(x for x in out.stdout.splitlines() if "error[E109]" in x)
    assert line.startswith(f"{tmp_path / 'hostile.yaml'}:11:50:")
    assert "backreferences" in line

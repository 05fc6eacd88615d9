"""The console's playground (docs/console.md): expressions and pasted mapping files compiled
by the config's compiler, never saved, never reading the daemon's environment."""

from __future__ import annotations

import json
import os
from pathlib import Path

from engine.ui.playground import read_event, run_expression, run_mapping

ROOT = Path(__file__).resolve().parents[2]
OPENED = json.loads((ROOT / "tests/fixtures/customerio/email_opened.json").read_text())
NOW = 1_800_000_000_000
MAPPING = """\
streams:
  - {name: hooks, id: event_id, timestamp: timestamp}
mappings:
  - name: people
    stream: hooks
    into: user
    by: [customer_id]
    fields:
      - {field: customer_id, expr: data.identifiers.id}
      - {field: email, expr: tolower(data.identifiers.email)}
"""


def test_an_expression_gives_its_value_and_generated_code() -> None:
    outcome = run_expression("tolower(data.identifiers.email)", OPENED)
    assert outcome.value == '"maria.lopez@example.com"'
    assert outcome.diagnostics == [] and "def " in outcome.code


def test_an_unknown_function_gives_E101_with_its_hint_and_a_caret() -> None:
    outcome = run_expression("1 + lowr(email)", OPENED)
    (d,) = outcome.diagnostics
    assert d["code"] == "E101" and d["hint"] and "tolower" in d["hint"]
    assert (d["line"], d["column"]) == (1, 5) and d["caret"] == "    ^^^^"
    assert outcome.value is None


def test_a_pasted_mapping_file_gives_the_field_updates_of_each_row() -> None:
    outcome = run_mapping(MAPPING, "customerio", OPENED, NOW)
    assert outcome.problem is None and outcome.stream == "hooks"
    assert outcome.dry_run is not None
    (entry,) = outcome.dry_run["streams"]
    (mapping,) = entry["mappings"]
    assert mapping["identities"] == {"customer_id": "usr_48213"}
    assert [(r["field"], r["value"]) for r in mapping["fields"]] == [
        ("customer_id", "usr_48213"),
        ("email", "maria.lopez@example.com"),
    ]
    assert "# mapping people" in outcome.code


def test_a_broken_row_is_a_diagnostic_at_its_line_of_the_pasted_text() -> None:
    outcome = run_mapping(MAPPING.replace("tolower(", "lowr("), "hooks", OPENED, NOW)
    (d,) = outcome.diagnostics
    assert d["code"] == "E101" and d["line"] == 10 and "lowr" in d["text"]


def test_a_pasted_mapping_reads_no_environment_variable_and_no_other_file() -> None:
    secret = os.environ.setdefault("HOME", "/root")
    leaky = MAPPING.replace("tolower(data.identifiers.email)", '"${HOME}"')
    outcome = run_mapping(leaky, "hooks", OPENED, NOW)
    assert secret not in json.dumps(outcome.dry_run) + json.dumps(outcome.diagnostics)
    outside = "mappings: [/etc/passwd]\n" + MAPPING
    shown = run_mapping(outside, "hooks", OPENED, NOW)
    assert shown.dry_run is None and shown.diagnostics


def test_a_pasted_event_wins_over_the_sample_and_must_be_json() -> None:
    assert read_event('{"a": 1}', "email_opened.json") == {"a": 1}
    assert read_event("", "no-such-sample.json") == {}
    try:
        read_event("{nope", "")
    except Exception as exc:
        assert "not JSON" in str(exc)
    else:
        raise AssertionError("bad JSON was read")

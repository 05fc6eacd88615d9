"""An `.lql` mapping obeys the same name rule as the YAML form of the same mapping.

Found by writing in LQL the field, stream and audience names the YAML form refuses
(`` AS `full name` ``, ``FROM `ev/ents` ``, ``ALIAS $x``): `engine validate` passed them, and
the profile then held fields no YAML mapping, export or filter could name. Both forms now go
through one name rule, with the same diagnostic (C004, docs/config.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.cli import assert_clean_failure, run_engine

GOOD = "SELECT user_id AS user_id KIND string, {column} FROM {stream} INTO user BY user_id " \
       "ALIAS {alias}\n"


@pytest.mark.parametrize(("column", "stream", "alias", "bad"), [
    ("count(x) AS `full name` KIND int", "events", "users", "full name"),
    ("count(x) AS $n KIND int", "events", "users", "$n"),
    ("count(x) AS n KIND int", "`ev/ents`", "users", "ev/ents"),
    ("count(x) AS n KIND int", "events", "`my users`", "my users"),
])
def test_lql_names_follow_the_yaml_name_rule(tmp_path: Path, column: str, stream: str,
                                              alias: str, bad: str) -> None:
    (tmp_path / "m.lql").write_text(GOOD.format(column=column, stream=stream, alias=alias))
    config = tmp_path / "config.yaml"
    config.write_text("version: 1\nstreams: [{name: events}]\n"
                      "mappings: [m.lql]\n")
    result = run_engine("validate", "--config", config, timeout=30)
    assert_clean_failure(result)
    assert "m.lql:1:" in result.stdout
    assert f"error[C004]: `{bad}` is not a valid name" in result.stdout
    assert "names start with a letter or `_`" in result.stdout


def test_an_lql_audience_name_follows_the_rule(tmp_path: Path) -> None:
    (tmp_path / "a.lql").write_text("FILTER n > 1 ALIAS `big spenders!`\n")
    config = tmp_path / "config.yaml"
    config.write_text("version: 1\naudiences: [a.lql]\n")
    result = run_engine("validate", "--config", config, timeout=30)
    assert_clean_failure(result)
    assert "error[C004]: `big spenders!` is not a valid name" in result.stdout


def test_the_yaml_form_gives_the_same_diagnostic(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("version: 1\nstreams: [{name: events}]\nmappings:\n"
                      "  - {name: users, stream: events, by: [user_id], fields: [\n"
                      "      {field: user_id, expr: user_id},\n"
                      "      {field: 'full name', expr: count(x), type: int}]}\n")
    result = run_engine("validate", "--config", config, timeout=30)
    assert_clean_failure(result)
    assert "error[C004]: `full name` is not a valid name" in result.stdout

"""`check_settings`: each check of docs/config.md with a planted error at a known line:col."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from engine.config.checks import check_settings, validate_config
from engine.config.loader import load_settings
from tests.config.conftest import FIXTURES, where

CHECKS = "checks.yaml"
MAPS = "checks_mapping.yaml"


@pytest.fixture(scope="module")
def found() -> list[tuple[str, int, int, str]]:
    return where(check_settings(load_settings(FIXTURES / CHECKS, environ={})))


@pytest.mark.parametrize(("planted", "why"), [
    ((CHECKS, 5, 59, "C013"), "import names an unknown authorization"),
    ((CHECKS, 9, 23, "C015"), "audiences a and b include each other"),
    ((CHECKS, 10, 23, "C012"), "INCLUDE of an audience that does not exist"),
    ((CHECKS, 11, 12, "C010"), "audience name used twice"),
    ((CHECKS, 16, 15, "C012"), "export of an unknown audience"),
    ((CHECKS, 18, 18, "C019"), "email_field that no mapping maps"),
    ((CHECKS, 19, 33, "C019"), "extra attribute that no mapping maps"),
    ((MAPS, 3, 16, "E101"), "unknown function in a stream timestamp"),
    ((MAPS, 5, 11, "C015"), "streams derived from each other"),
    ((MAPS, 11, 11, "C011"), "derived from an unknown stream"),
    ((MAPS, 12, 12, "E104"), "aggregate in a transform's where"),
    ((MAPS, 17, 19, "C018"), "a by field no row maps"),
    ((MAPS, 19, 62, "C016"), "merge the type does not allow"),
    ((MAPS, 20, 54, "C017"), "merge the aggregate does not allow"),
    ((MAPS, 21, 17, "C010"), "field mapped twice in one mapping"),
    ((MAPS, 22, 11, "C010"), "mapping name used twice"),
    ((MAPS, 23, 13, "C011"), "mapping of an unknown stream"),
    ((MAPS, 26, 47, "C020"), "a field with two types"),
    ((MAPS, 28, 23, "C011"), "test of an unknown stream"),
])
def test_planted_error_is_found(found: list[tuple[str, int, int, str]],
                                planted: tuple[str, int, int, str], why: str) -> None:
    assert planted in found, why


def test_nothing_else_is_reported(found: list[tuple[str, int, int, str]]) -> None:
    assert len(found) == 19


def test_hints_suggest_close_names() -> None:
    diags = check_settings(load_settings(FIXTURES / CHECKS, environ={}))
    hints = {d.code: d.hint for d in diags if d.hint}
    assert hints["C013"] == "did you mean `cio_main`?"


def test_authorization_of_another_provider() -> None:
    s = load_settings(FIXTURES / "valid.yaml", environ={})
    auth = replace(s.authorizations[0], provider="other")
    diags = check_settings(replace(s, authorizations=(auth,)))
    assert {d.code for d in diags} == {"C014"}
    assert [(d.line, d.column) for d in diags] == [(14, 59), (25, 20)]


def test_derived_stream_timestamp_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "streams:\n  - {name: a}\n  - {name: b, from: a, timestamp: ts, fields: {x: x}}\n")
    result = validate_config(tmp_path / "c.yaml")
    assert result.ok
    assert [(d.line, d.column, d.code, d.severity) for d in result.diagnostics] == [
        (3, 35, "C021", "warning")]


def test_a_mapping_calling_uuid_is_a_warning(tmp_path: Path) -> None:
    """A replay gives `uuid()` new values: validate says where, and the config still loads."""
    (tmp_path / "c.yaml").write_text(
        "streams:\n  - {name: web}\nmappings:\n  - name: visits\n    stream: web\n"
        "    into: user\n    by: [email]\n    fields:\n      - {field: email, expr: email}\n"
        "      - {field: visit, expr: 'tolower(uuid())', if: 'uuid() != \"\"'}\n")
    result = validate_config(tmp_path / "c.yaml")
    assert result.ok
    assert [(d.line, d.column, d.code, d.severity) for d in result.diagnostics] == [
        (10, 39, "C027", "warning"), (10, 54, "C027", "warning")]


def test_an_lql_column_calling_uuid_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "visits.lql").write_text(
        "SELECT\n    email(email) AS email,\n    uuid() AS visit_id\n"
        "FROM web INTO user BY email ALIAS visits\n")
    (tmp_path / "c.yaml").write_text("streams:\n  - {name: web}\nmappings: [visits.lql]\n")
    result = validate_config(tmp_path / "c.yaml")
    assert result.ok
    assert [(d.file.rsplit("/", 1)[-1], d.line, d.column, d.code) for d in result.diagnostics] == [
        ("visits.lql", 3, 5, "C027")]


def test_acceptance_three_planted_errors() -> None:
    """Unknown function, `type: date` on a set() field, a `by` field no row maps."""
    result = validate_config(FIXTURES / "acceptance.yaml")
    assert not result.ok
    assert where(result.diagnostics) == [
        ("acceptance_mapping.yaml", 7, 19, "C018"),
        ("acceptance_mapping.yaml", 10, 34, "E101"),
        ("acceptance_mapping.yaml", 11, 33, "E105"),
    ]
    assert result.diagnostics[1].hint == "did you mean `epochms`?"


def test_capacity_and_keep_days_where_they_cannot_apply(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "streams:\n  - {name: a}\nmappings:\n  - name: m\n    stream: a\n    by: [id]\n"
        "    fields:\n"
        "      - {field: id, expr: id, type: string}\n"
        "      - {field: seen, expr: valuect(page), type: 'map[string]intsum', capacity: 5}\n"
        "      - {field: hits, expr: valuect(x), type: 'map[string]intsum', keep_days: 9}\n"
        "      - {field: name, expr: name, type: string, capacity: 3}\n"
        "      - {field: pages, expr: set(page), type: '[]string', capacity: 50}\n")
    result = validate_config(tmp_path / "c.yaml")
    assert not result.ok
    # `seen` (line 9) keeps its 5 most recently counted keys: capacity applies to counts too
    assert [(d.line, d.code) for d in result.diagnostics] == [(10, "C022"), (11, "C022")]


def test_the_customerio_export_keys_are_checked_where_written(tmp_path: Path) -> None:
    """Customer.io counts an event name's UTF-8 bytes (the schema counts characters), takes
    32-bit segment ids and three kinds of identifier."""
    shutil.copytree(FIXTURES, tmp_path, dirs_exist_ok=True)  # with the files it names
    valid = (tmp_path / "valid.yaml").read_text()
    (tmp_path / "c.yaml").write_text(valid)
    assert validate_config(tmp_path / "c.yaml").ok
    lines = valid.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("id_field:"))
    indent = lines[at][:len(lines[at]) - len(lines[at].lstrip())]
    lines[at + 1:at + 1] = [f"{indent}identifier: phone",
                            f'{indent}events: {{on_enter: "{"é" * 60}", on_exit: ok}}',
                            f"{indent}segment_id: 2147483648"]
    (tmp_path / "c.yaml").write_text("\n".join(lines) + "\n")
    found = [(d.line - at - 1, d.column, d.code, d.message)
             for d in validate_config(tmp_path / "c.yaml").diagnostics]
    col = len(indent) + 1
    assert found == [
        (1, col + 12, "C004", "`phone` is not one of: id, email, cio_id"),
        (2, col + 19, "C004", "the event name is 120 bytes of UTF-8, over Customer.io's "
         "limit of 100"),
        (3, col + 12, "C004", "2147483648 is greater than the maximum of 2147483647")]

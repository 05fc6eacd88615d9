"""The shipped JSON Schemas and schema errors located at their YAML node."""

from __future__ import annotations

import json

import jsonschema

from engine.config.checks import validate_config
from engine.config.schema import SCHEMAS, schema, schema_text
from tests.config.conftest import FIXTURES, where


def test_schemas_are_valid_json_schemas() -> None:
    for name in SCHEMAS:
        doc = json.loads(schema_text(name))
        jsonschema.validators.validator_for(doc).check_schema(doc)


def test_mapping_schema_shares_the_config_definitions() -> None:
    assert schema("mapping")["$defs"] == schema("config")["$defs"]
    for key in ("streams", "mappings", "audiences", "exports", "tests"):
        assert schema("mapping")["properties"][key] == schema("config")["properties"][key]


def test_schema_errors_are_located_with_hints() -> None:
    result = validate_config(FIXTURES / "broken_schema.yaml")
    got = where(result.diagnostics)
    assert ("broken_schema.yaml", 3, 12, "C004") in got   # enum: sqlight
    assert ("broken_schema.yaml", 4, 3, "C002") in got    # unknown key pth
    assert ("broken_schema.yaml", 6, 19, "C004") in got   # not an integer
    assert ("broken_schema.yaml", 12, 41, "C002") in got  # tyep inside an anyOf list item
    assert ("broken_schema.yaml", 13, 9, "C003") in got   # missing field
    by_code = {(d.line, d.code): d for d in result.diagnostics}
    assert by_code[(4, "C002")].hint == "did you mean `path`?"
    assert by_code[(3, "C004")].hint == "did you mean `sqlite`?"
    assert by_code[(12, "C002")].message == "unknown key `tyep`"
    assert by_code[(13, "C003")].message == "missing required key `field`"


def test_schema_ships_in_the_wheel_config() -> None:
    from tests.config.conftest import ROOT

    text = (ROOT / "pyproject.toml").read_text()
    assert 'packages = ["engine"]' in text  # hatch ships every file under engine/, JSON included
    assert (ROOT / "engine" / "config" / "schemas" / "config.schema.json").is_file()


def test_one_name_rule_for_yaml_and_lql() -> None:
    from engine.config.schema import name_problem

    assert name_problem("cio_events") is None and name_problem("a.b-c_1") is None
    for bad in ("full name", "$n", "1st", "", "ev/ents"):
        problem = name_problem(bad)
        assert problem is not None and problem[0] == f"`{bad}` is not a valid name"

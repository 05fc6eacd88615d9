"""The shipped JSON Schemas and schema errors located at their YAML node."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema

from engine.config.checks import validate_config
from engine.config.model import config_keys, key
from engine.config.schema import SCHEMAS, SECTIONS, schema, schema_text, section_schema
from tests.config.conftest import FIXTURES, where


def test_schemas_are_valid_json_schemas() -> None:
    for name in SCHEMAS:
        doc = json.loads(schema_text(name))
        jsonschema.validators.validator_for(doc).check_schema(doc)


def test_mapping_schema_shares_the_config_definitions() -> None:
    assert schema("mapping")["$defs"] == schema("config")["$defs"]
    for section in ("streams", "mappings", "audiences", "exports", "tests"):
        assert schema("mapping")["properties"][section] == schema("config")["properties"][section]


def test_each_definition_is_shipped_once() -> None:
    """The mapping schema only refers to the config schema's definitions, and the settings
    sections are not in the shipped file at all: their fields in model.py declare them."""
    from tests.config.conftest import ROOT

    folder = ROOT / "engine" / "config" / "schemas"
    mapping = json.loads((folder / "mapping.schema.json").read_text())
    assert "$defs" not in mapping
    assert all(set(p) == {"$ref"} for p in mapping["properties"].values())
    shipped = json.loads((folder / "config.schema.json").read_text())
    assert not set(SECTIONS) & set(shipped["$defs"])
    assert set(SECTIONS) <= set(schema("config")["$defs"])


def test_settings_schema_is_made_from_the_model_fields() -> None:
    """Every key of a settings dataclass is in its schema section, with the field's default."""
    for name, section in SECTIONS.items():
        made = schema("config")["$defs"][name]
        for k in config_keys(section):
            node = made
            for part in k.path:
                node = node["properties"][part]
            if k.required:
                assert k.path[0] in made["required"], (name, k.field)
            else:
                default = list(k.default) if isinstance(k.default, tuple) else k.default
                assert node["default"] == default, (name, k.field)


def test_a_key_declared_on_its_field_is_in_the_schema_and_the_loader() -> None:
    """What adding a config key takes (docs/config.md): one field; schema and loader follow."""
    from engine.config.loader import _build

    @dataclass(frozen=True)
    class Section:
        name: str = field(metadata=key(ref="name"))
        workers: int = field(default=4, metadata=key(minimum=1))
        mode: str = field(default="fast", metadata=key(enum=("fast", "safe")))
        deep: float = field(default=1.5, metadata=key("nested.deep", exclusiveMinimum=0))

    made = section_schema(Section)
    assert made["required"] == ["name"]
    assert made["properties"]["workers"] == {"type": "integer", "minimum": 1, "default": 4}
    assert made["properties"]["mode"] == {"enum": ["fast", "safe"], "default": "fast"}
    assert made["properties"]["nested"]["properties"]["deep"] == {
        "type": "number", "exclusiveMinimum": 0, "default": 1.5}
    built = _build(Section, {"name": "a", "workers": 8, "nested": {"deep": 2}})
    assert built == Section("a", 8, "fast", 2.0)
    assert _build(Section, {"workers": 0, "nested": {"deep": -1}}) == Section("")


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


def test_on_undecodable_of_an_import_is_checked_where_it_is_written(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "version: 1\n"
        "authorizations:\n"
        "  cio: {provider: customerio}\n"
        "imports:\n"
        "  - {name: a, provider: customerio, authorization: cio, stream: s,\n"
        "     on_undecodable: dead-letter}\n"
        "  - {name: b, provider: customerio, authorization: cio, stream: t,\n"
        "     on_undecodable: reject}\n"
    )
    result = validate_config(path)
    (bad,) = [d for d in result.diagnostics if d.code == "C004"]
    assert where([bad]) == [("config.yaml", 6, 22, "C004")]
    assert "dead_letter, reject" in bad.message
    assert bad.hint == "did you mean `dead_letter`?"

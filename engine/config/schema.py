"""The JSON Schemas of the config files, and their errors turned into located diagnostics.

The schemas ship inside the package (``engine/config/schemas/*.schema.json``); `engine schema`
prints them, whole, for editors. Each definition is written once: the mapping schema refers to the
config schema's ``$defs``, and the ``$defs`` of the settings sections (`SECTIONS`) are made here
from the dataclass fields of `engine.config.model` that declare each key (docs/config.md,
"Adding a config key"). Validation uses jsonschema's ``iter_errors`` so that every problem is
reported, and each error is placed on the YAML node it concerns: an unknown key on the key
itself (with "did you mean" when a known key is close), a wrong value on the value.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any, Literal

import jsonschema
from jsonschema.exceptions import ValidationError

from engine.config.model import (
    FIELD_TYPES,
    AuthorizationSpec,
    ConfigKey,
    ExportSpec,
    IdentitySpec,
    ImportSpec,
    PipelineSpec,
    ServerSpec,
    StorageSpec,
    TransportSpec,
    config_keys,
)
from engine.config.yamlfile import YamlFile
from engine.errors import did_you_mean, unknown

SchemaName = Literal["config", "mapping"]
SCHEMAS: tuple[SchemaName, ...] = ("config", "mapping")

_JSON_TYPES = {dict: "a mapping", list: "a list", str: "a string", bool: "true or false",
               int: "an integer", float: "a number", type(None): "nothing (null)"}
_TYPE_WORDS = {"object": "a mapping", "array": "a list", "string": "a string",
               "boolean": "true or false", "integer": "an integer", "number": "a number",
               "null": "null"}


# The ``$defs`` entries made from the settings dataclasses, one per section or item.
SECTIONS: dict[str, type] = {
    "storage": StorageSpec, "transport": TransportSpec, "server": ServerSpec,
    "identity": IdentitySpec, "pipeline": PipelineSpec, "authorization": AuthorizationSpec,
    "import": ImportSpec, "export": ExportSpec,
}
# The JSON Schema of each field annotation a config key may have.
_TYPES: dict[str, dict[str, Any]] = {
    "str": {"type": "string"}, "int": {"type": "integer"}, "float": {"type": "number"},
    "bool": {"type": "boolean"}, "tuple[str, ...]": {"type": "array", "items": {"type": "string"}},
    "str | None": {"type": ["string", "null"]},
}


def schema_text(name: SchemaName) -> str:
    """The whole schema, definitions filled in, for `engine schema`."""
    return json.dumps(schema(name), indent=2, ensure_ascii=False) + "\n"


def _shipped(name: SchemaName) -> dict[str, Any]:
    text = resources.files("engine.config").joinpath(f"schemas/{name}.schema.json").read_text(
        encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@functools.cache
def schema(name: SchemaName) -> dict[str, Any]:
    """Schema `name` with every definition in it: the config schema's own ``$defs``, those of
    `SECTIONS`, and a mapping field's types and merges (`FIELD_TYPES`); the mapping schema,
    which only refers to them, gets the same."""
    doc = _shipped(name)
    if name == "config":
        doc["$defs"] = {**doc["$defs"], **{n: section_schema(c) for n, c in SECTIONS.items()}}
        row = doc["$defs"]["mappingField"]["properties"]
        row["type"] = {"enum": list(FIELD_TYPES)}
        row["merge"] = {"enum": list(dict.fromkeys(m for ms in FIELD_TYPES.values() for m in ms))}
    else:
        doc["$defs"] = schema("config")["$defs"]
    return doc


def section_schema(section: type) -> dict[str, Any]:
    """The JSON Schema of a settings section or item, from its keys (`config_keys`)."""
    properties: dict[str, Any] = {}
    for k in config_keys(section):
        node = properties
        for part in k.path[:-1]:  # a nested key (batch.max_items) sits in an object of its own
            node = node.setdefault(part, {"type": "object", "additionalProperties": False,
                                          "properties": {}})["properties"]
        node[k.path[-1]] = key_schema(k)
    required = [k.path[0] for k in config_keys(section) if k.required]
    return {"type": "object", "additionalProperties": False,
            **({"required": required} if required else {}), "properties": properties}


def key_schema(k: ConfigKey) -> dict[str, Any]:
    """The JSON Schema of one key's value: its type's, with the words its field adds, and its
    default."""
    if k.type not in _TYPES:
        raise TypeError(f"config key {k.field!r}: no JSON Schema for a {k.type}")
    words = dict(_TYPES[k.type])
    if {"$ref", "anyOf", "enum"} & k.schema.keys():
        words = {}  # they say what the value is; a type beside them would only repeat it
    words.update(k.schema)
    if not k.required:
        words["default"] = k.default
    plain: dict[str, Any] = json.loads(json.dumps(words))  # tuples become JSON arrays
    return plain


@functools.cache
def _validator(name: SchemaName) -> jsonschema.protocols.Validator:
    doc = schema(name)
    cls = jsonschema.validators.validator_for(doc)
    cls.check_schema(doc)
    return cls(doc)


@functools.cache
def _name_rule() -> re.Pattern[str]:
    return re.compile(schema("config")["$defs"]["name"]["pattern"])


def name_problem(value: str) -> tuple[str, str] | None:
    """The message and hint (code C004) for a stream, mapping, field or audience name that
    breaks the name rule, None for a good name. The rule is the schemas' ``$defs/name``; an
    `.lql` file's names are held to it here as the YAML form's are by the schema, so a name
    one form takes the other takes too."""
    if _name_rule().fullmatch(value):
        return None
    return (f"`{value}` is not a valid name",
            "names start with a letter or `_` and hold letters, digits, `_`, `.`, `-`")


def _kind(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _wanted(types: Any) -> str:
    if isinstance(types, str):
        types = [types]
    return " or ".join(_TYPE_WORDS.get(t, t) for t in types)


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """The errors to report for `error`: for `anyOf`, those of the branch the value was meant
    for (the one whose type matches), else the error itself."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict[int, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
        meant = [errs for errs in branches.values()
                 if not all(e.validator == "type" and not e.relative_path for e in errs)]
        if len(meant) == 1:
            for sub in meant[0]:
                yield from _leaves(sub)
            return
    yield error


def _describe_any(error: ValidationError) -> str:
    options = []
    branches: Any = error.validator_value
    for branch in branches:
        if "$ref" in branch:
            options.append(branch["$ref"].rsplit("/", 1)[-1])
        elif "type" in branch:
            options.append(_wanted(branch["type"]))
    return " or ".join(dict.fromkeys(options)) or "a different value"


def validate(doc: YamlFile, name: SchemaName) -> None:
    """Check `doc.data` against schema `name`; every error becomes a diagnostic on `doc`."""
    if doc.data is None:
        if not any(d.severity == "error" for d in doc.diagnostics):
            doc.data = {}
        return
    for top in _validator(name).iter_errors(doc.data):
        for error in _leaves(top):
            _report(doc, error)


def _report(doc: YamlFile, error: ValidationError) -> None:
    path = tuple(error.absolute_path)
    value = error.instance
    kind = error.validator
    rule: Any = error.validator_value
    if kind == "additionalProperties" and isinstance(value, dict):
        node: Any = error.schema
        known = list(node.get("properties", {}))
        for key in value:
            if key in known:
                continue
            message, hint = unknown("key", key, known)
            hint = hint or (f"known keys: {', '.join(known)}" if known else None)
            doc.error(doc.key_at((*path, key)), "C002", message, hint)
        return
    if kind == "required" and isinstance(value, dict):
        for key in rule:
            if key not in value:
                doc.error(doc.key_at(path), "C003", f"missing required key `{key}`")
        return
    if kind == "dependentRequired" and isinstance(value, dict):
        for key, needs in rule.items():
            for need in needs:
                if key in value and need not in value:
                    doc.error(doc.key_at((*path, key)), "C003",
                              f"`{key}` needs `{need}` next to it")
        return
    where = doc.at(path)
    if "propertyNames" in error.schema_path and isinstance(value, str):
        where = doc.key_at((*path, value))  # the error is about a key, not the mapping
    if kind == "enum":
        options = [str(v) for v in rule]
        hint = did_you_mean(str(value), options) if isinstance(value, str) else None
        doc.error(where, "C004", f"`{value}` is not one of: {', '.join(options)}", hint)
    elif kind == "const":
        doc.error(where, "C004", f"must be {rule!r}, got {value!r}")
    elif kind == "type":
        doc.error(where, "C004", f"expected {_wanted(rule)}, got {_kind(value)}")
    elif kind in ("anyOf", "oneOf"):
        doc.error(where, "C004", f"expected {_describe_any(error)}, got {_kind(value)}")
    elif (kind == "pattern" and rule == _name_rule().pattern and isinstance(value, str)
          and (problem := name_problem(value)) is not None):
        doc.error(where, "C004", *problem)
    elif kind in ("minItems", "minLength") and not value:
        doc.error(where, "C004", "must not be empty")
    else:
        doc.error(where, "C004", error.message)

"""The loader: YAML positions of every expression, interpolation, overrides, files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.config.checks import check_settings
from engine.config.loader import load_settings, read_settings
from engine.config.model import ConfigKey, config_keys
from engine.config.yamlfile import MAX_DEPTH, MAX_FILE_BYTES, MAX_SCALAR_CHARS, read_yaml
from engine.errors import ConfigError
from tests.config.conftest import FIXTURES, where


def test_valid_config_builds_the_model() -> None:
    s = load_settings(FIXTURES / "valid.yaml", environ={})
    assert [st.name for st in s.streams] == ["raw", "clean"]
    assert s.streams[1].from_ == "raw" and [f.field for f in s.streams[1].fields] == [
        "user_id", "email", "action"]
    users = s.mappings[0]
    assert users.by == ("user_id", "email")
    f = {m.name: m for m in users.fields}
    assert f["last_open_ts"].spec.guard == 'eq(action, "opened")'
    assert f["last_open_ts"].type == "date"
    assert f["user_id"].description == "User ID"
    assert s.server.collect_tokens == ("dev-token",)
    assert s.authorizations[0].name == "cio_main"
    assert s.exports[0].extra_attributes == ("channels",)
    assert s.tests[0].expect["fields"] == {"opens": 1}
    assert [Path(p).name for p in s.files] == ["valid.yaml", "valid_mapping.yaml"]
    assert check_settings(s) == []


def _other_value(k: ConfigKey) -> Any:
    """A valid value of key `k` that is not its default."""
    if "enum" in k.schema:
        return next(v for v in k.schema["enum"] if v != k.default)
    if k.type in ("int", "float"):
        return k.default + 1
    if k.type == "bool":
        return not k.default
    if k.type == "tuple[str, ...]":
        return ["a_1", "b_2"]
    return f"v_{k.field}"


def test_every_declared_key_is_read_into_the_model(tmp_path: Path) -> None:
    """Each settings key written with a value other than its default reaches its field."""
    from engine.config.schema import SECTIONS

    doc: dict[str, Any] = {"version": 1}
    items = {"authorization": ("authorizations", "a_1"), "import": ("imports", 0),
             "export": ("exports", 0)}
    for name, section in SECTIONS.items():
        body: dict[str, Any] = {}
        for k in config_keys(section):
            node = body
            for part in k.path[:-1]:
                node = node.setdefault(part, {})
            node[k.path[-1]] = _other_value(k)
        where_, index = items.get(name, (name, None))
        doc[where_] = {index: body} if isinstance(index, str) else [body] if index == 0 else body
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(doc))
    settings, problems = read_settings(tmp_path / "c.yaml", environ={})
    assert [d for d in problems if d.code in ("C002", "C004")] == []
    built = {"storage": settings.storage, "transport": settings.transport,
             "server": settings.server, "identity": settings.identity,
             "pipeline": settings.pipeline, "authorization": settings.authorizations[0],
             "import": settings.imports[0], "export": settings.exports[0]}
    for name, section in SECTIONS.items():
        for k in config_keys(section):
            wanted = _other_value(k)
            wanted = tuple(wanted) if isinstance(wanted, list) else wanted
            assert getattr(built[name], k.field) == wanted, (name, k.field)


def test_field_type_defaults_to_the_aggregate_kind(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "streams: [{name: s}]\n"
        "mappings:\n"
        "  - {name: m, stream: s, by: [a],\n"
        "     fields: [{field: a, expr: a}, {field: n, expr: count(a)}]}\n")
    s = load_settings(tmp_path / "c.yaml")
    assert [f.type for f in s.mappings[0].fields] == ["string", "int"]


@pytest.mark.parametrize(("line", "col"), [(10, 15), (10, 21), (12, 30), (14, 36), (19, 13),
                                            (23, 11), (26, 11)])
def test_caret_lands_on_the_yaml_character(line: int, col: int) -> None:
    """Plain, single-quoted, double-quoted with escapes, literal, folded, multi-line plain."""
    s = load_settings(FIXTURES / "positions.yaml")
    found = [(d.line, d.column, d.code) for d in check_settings(s)]
    assert (line, col, "E101") in found


def test_rendered_caret_is_under_the_function_name() -> None:
    s = load_settings(FIXTURES / "positions.yaml")
    d = next(d for d in check_settings(s) if d.line == 14)
    rendered = d.render().splitlines()
    assert rendered[1].endswith('expr: "oneof(\\"\\u00e9\\t\\", nosuch(b))"')
    assert rendered[2].index("^") == rendered[1].index("nosuch")
    assert rendered[2].count("^") == len("nosuch")


def test_interpolation() -> None:
    env = {"DB_DIR": "/data", "TOKEN": "t0k"}
    settings, problems = read_settings(FIXTURES / "interpolation.yaml", environ=env)
    assert settings.storage.path == "/data/engine.db"
    assert settings.server.admin_token == "${literal}"
    assert settings.server.max_body_bytes == 2048  # a plain scalar is re-read after interpolation
    assert settings.server.collect_tokens[0] == "t0k"
    assert where(problems) == [("interpolation.yaml", 4, 8, "C006"),
                               ("interpolation.yaml", 8, 33, "C006")]
    assert "`MISSING_DSN`" in problems[0].message


def test_unset_variable_without_default_is_reported_where_used() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(FIXTURES / "interpolation.yaml", environ={})
    assert [(d.line, d.column) for d in info.value.diagnostics] == [(4, 8), (8, 21), (8, 33)]
    assert "TOKEN" in info.value.diagnostics[1].message


def test_empty_variable_takes_the_default_with_colon_dash(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text('storage: {path: "${A:-x}", dsn: "${A-y}"}\n')
    s = load_settings(tmp_path / "c.yaml", environ={"A": ""})
    assert (s.storage.path, s.storage.dsn) == ("x", "")


def test_overrides_are_yaml_scalars() -> None:
    s = load_settings(FIXTURES / "valid.yaml", environ={}, overrides={
        "storage.path": "/tmp/x.db", "server.max_body_bytes": "10",
        "server.collect_tokens": "[a, b]", "exports.0.rate_limit_per_s": "5"})
    assert s.storage.path == "/tmp/x.db"
    assert s.server.max_body_bytes == 10
    assert s.server.collect_tokens == ("a", "b")
    assert s.exports[0].rate_limit_per_s == 5.0


def test_bad_override_is_located_in_the_set_argument() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(FIXTURES / "valid.yaml", environ={},
                      overrides={"server.max_body_bytes": "lots", "storage.path.x": "1"})
    rendered = [d.render() for d in info.value.diagnostics]
    assert any(r.startswith("--set:1:23: error[C004]: expected an integer") for r in rendered)
    assert any("[C008]" in r for r in rendered)


def test_yaml_syntax_error_has_its_position() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(FIXTURES / "broken_yaml.yaml")
    assert where(info.value.diagnostics) == [("broken_yaml.yaml", 3, 7, "C001")]


def test_missing_mapping_file_is_reported_at_its_entry() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(FIXTURES / "missing_file.yaml")
    assert where(info.value.diagnostics) == [("missing_file.yaml", 3, 5, "C007")]


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(FIXTURES / "nope.yaml")
    assert info.value.diagnostics[0].code == "C007"


def test_duplicate_keys_and_merge_keys(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "base: &b {backend: sqlite, path: a.db}\n"
        "storage:\n  <<: *b\n  path: b.db\n"
        "server: {listen: x, listen: y}\n")
    settings, problems = read_settings(tmp_path / "c.yaml")
    assert settings.storage.path == "b.db"  # a key overriding a merged one is not a duplicate
    codes = {(d.line, d.column, d.code) for d in problems}
    assert (5, 21, "C005") in codes and (1, 1, "C002") in codes


def test_unsafe_tags_are_refused(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("version: !!python/object:os.system echo\n")
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "c.yaml")
    assert info.value.diagnostics[0].code == "C001"


def test_alias_bomb_does_not_hang(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    (tmp_path / "c.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "c.yaml")
    assert [(d.line, d.code) for d in info.value.diagnostics] == [(5, "C024")]


def test_limits_are_checked_while_composing(tmp_path: Path) -> None:
    deep = "a: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n"
    # An alias deepens what it stands for: 40 levels used inside 40 more is too deep.
    through_alias = ("a: &a " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 40 + "*a"
                     + "]" * 40 + "\n")
    merges = "m0: &m0 {k: v}\n" + "".join(
        f"m{i}: &m{i} {{<<: *m{i - 1}}}\n" for i in range(1, MAX_DEPTH + 2))
    long_value = "a: " + "x" * (MAX_SCALAR_CHARS + 1) + "\n"
    for text, code, line in [(deep, "C023", 1), (through_alias, "C023", 2),
                             (merges, "C023", MAX_DEPTH - 1), (long_value, "C025", 1)]:
        doc = read_yaml("c.yaml", text, {})
        assert [(d.code, d.line) for d in doc.diagnostics] == [(code, line)], text[:80]
    fits = MAX_DEPTH - 1  # the top mapping is the first level
    assert read_yaml("c.yaml", "a: " + "[" * fits + "]" * fits, {}).diagnostics == []


def test_a_file_over_the_size_limit_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_text("streams: []\n" + "#" * MAX_FILE_BYTES)
    (tmp_path / "c.yaml").write_text("mappings: [big.yaml]\n")
    _settings, problems = read_settings(tmp_path / "c.yaml")
    assert [(d.file, d.line, d.column, d.code) for d in problems] == [
        (str(tmp_path / "c.yaml"), 1, 12, "C025")]


def test_lql_mapping_file(tmp_path: Path) -> None:
    (tmp_path / "m.lql").write_text(
        'SELECT user_id AS user_id KIND string, count(x) AS n KIND int\n'
        'FROM events INTO user BY user_id ALIAS users\n')
    (tmp_path / "c.yaml").write_text("streams: [{name: events}]\nmappings: [m.lql]\n")
    s = load_settings(tmp_path / "c.yaml")
    assert s.mappings[0].name == "users" and s.mappings[0].by == ("user_id",)
    assert check_settings(s) == []


def test_extra_files_are_read_as_mapping_files() -> None:
    settings, problems = read_settings(FIXTURES / "acceptance.yaml",
                                       extra_files=[FIXTURES / "valid_mapping.yaml"])
    assert problems == []
    assert {m.name for m in settings.mappings} == {"users"}
    assert len(settings.files) == 3


def test_named_files_are_confined_to_the_config_folder_unless_allowed(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "m.yaml").write_text("streams: [{name: events}]\n")
    config = tmp_path / "conf" / "c.yaml"
    config.write_text("mappings: [../shared/m.yaml]\n")
    _s, problems = read_settings(config, environ={})
    assert [(d.line, d.column, d.code) for d in problems] == [(1, 12, "C026")]
    for allowed, environ in [([tmp_path / "shared"], {}),
                             ([], {"ENGINE_ALLOW_PATHS": str(tmp_path / "shared")})]:
        settings, problems = read_settings(config, environ=environ, allow_paths=allowed)
        assert problems == [] and [s.name for s in settings.streams] == ["events"]


def test_a_file_that_is_not_a_config_is_reported_without_its_content(tmp_path: Path) -> None:
    (tmp_path / "key.yaml").write_text("secret_token: abc123\n")
    (tmp_path / "key.lql").write_text("secret abc123\n")
    (tmp_path / "c.yaml").write_text("mappings: [key.yaml, key.lql]\n")
    _s, problems = read_settings(tmp_path / "c.yaml", environ={})
    assert {(Path(d.file).name, d.line, d.code) for d in problems} >= {("key.yaml", 1, "C002")}
    for d in problems:
        assert "abc123" not in d.render() and "secret" not in d.render()

"""Hostile text in expressions, identifiers and field names cannot run code or break the
generated source: user text only ever reaches it as ``repr()`` of a constant."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import engine
from engine.errors import ConfigError
from engine.lang.compiler import FieldSpec, compile_group
from engine.lang.runtime import HELPERS

CANARY = Path("/tmp/cdp-engine-security-canary")

HOSTILE = [
    "'); __import__('os').system('touch /tmp/cdp-engine-security-canary'); ('",
    '"); __import__("os").system("touch /tmp/cdp-engine-security-canary"); ("',
    "\\'; import os #",
    "line1\nline2\r\nline3",
    "\\\\\\",
    "__import__",
    "__class__.__mro__[1].__subclasses__()",
    "{0.__class__}",
    "\x00\x01\x1b[31m",
    "\u2028\u2029",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
]

ALLOWED_NAME = re.compile(r"^(_[vstkfp]\d+|ev|ts|out|str|dict|Exception|None|True|False|_errors|"
                          r"_failed|_expression|_mapping|"
                          + "|".join(re.escape(k) for k in HELPERS) + ")$")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _assert_clean(source: str) -> None:
    """Every name in the generated source is one the generator made; no attribute but ours."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            assert ALLOWED_NAME.match(node.id), node.id
        if isinstance(node, ast.Attribute):
            if node.attr in ("keys", "isdisjoint"):  # the one test for flat dotted keys
                assert ast.unparse(node) in ("ev.keys", "ev.keys().isdisjoint"), ast.unparse(node)
                continue
            assert node.attr in ("get", "__class__"), node.attr
        if isinstance(node, ast.Import | ast.ImportFrom | ast.Lambda):
            raise AssertionError(ast.dump(node))


@pytest.fixture(autouse=True)
def _no_canary() -> None:
    CANARY.unlink(missing_ok=True)
    yield
    assert not CANARY.exists(), "hostile text ran code"


@pytest.mark.parametrize("text", HOSTILE)
def test_string_literal_is_data(text: str) -> None:
    compiled = engine.compile_expression(f"eq(x, {_quote(text)}) OR {_quote(text)}")
    _assert_clean(compiled.code)
    assert compiled.evaluate({"x": text}) is True
    assert engine.compile_expression(_quote(text)).evaluate({}) == text


@pytest.mark.parametrize("text", [t for t in HOSTILE if "`" not in t])
def test_backquoted_identifier_is_a_key(text: str) -> None:
    compiled = engine.compile_expression(f"`{text}`")
    _assert_clean(compiled.code)
    assert compiled.evaluate({text: "found"}) == "found"
    assert compiled.evaluate({}) is None


def test_dunder_paths_only_read_dict_keys() -> None:
    compiled = engine.compile_expression("x.__class__.__mro__")
    _assert_clean(compiled.code)
    assert compiled.evaluate({"x": {"y": 1}}) is None
    assert compiled.evaluate({"x": {"__class__": {"__mro__": "data"}}}) == "data"
    assert engine.compile_expression("__import__").evaluate({}) is None


@pytest.mark.parametrize("field", HOSTILE)
def test_field_and_group_names_are_data(field: str) -> None:
    group = compile_group(
        [FieldSpec(field, "x"), FieldSpec("ok", f"tolower({_quote(field)})")], name=field)
    _assert_clean(group.code)
    assert group.apply({"x": "v"}) == {field: "v", "ok": field.lower()}


def test_unknown_function_named_like_python_builtins_is_rejected() -> None:
    for name in ("__import__", "eval", "exec", "open", "getattr", "os.system"):
        with pytest.raises(ConfigError) as info:
            engine.compile_expression(f"{name}('x')")
        assert info.value.diagnostics[0].code == "E101"


def test_generated_code_has_no_builtins() -> None:
    compiled = engine.compile_expression("tolower(x)")
    globals_ = compiled._function.__globals__
    assert globals_["__builtins__"] == {}
    for name in ("__import__", "eval", "exec", "open", "getattr", "compile"):
        assert name not in globals_


def test_megabyte_string_literal() -> None:
    big = "A'\"\\\n" * 200_000  # 1 MB of quotes, backslashes and newlines
    compiled = engine.compile_expression(_quote(big) + " = x")
    assert compiled.evaluate({"x": big}) is True
    _assert_clean(compiled.code)


def test_megabyte_identifier_and_event_value() -> None:
    name = "a" * 1_000_000
    compiled = engine.compile_expression(f"tolower({name})")
    assert compiled.evaluate({name: "X" * 1_000_000}) == "x" * 1_000_000


def test_unterminated_megabyte_string_is_a_clean_error() -> None:
    with pytest.raises(ConfigError) as info:
        engine.compile_expression('"' + "x" * 1_000_000)
    assert info.value.diagnostics[0].code == "E002"


def test_deep_nesting_is_a_clean_error() -> None:
    for text in ("tolower(" * 5000 + "x" + ")" * 5000, "NOT " * 5000 + "x",
                 "(" * 100_000 + "x" + ")" * 100_000, "[" * 5000 + "]" * 5000):
        try:
            engine.compile_expression(text)
        except ConfigError as exc:
            assert exc.diagnostics[0].code in ("E001", "E003")


@pytest.mark.parametrize("text", [r'"\uD800"', r'"a\uDFFFb"', r'"\uDE00\uD83D"', "'\ud800'"])
def test_a_lone_surrogate_is_E004(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        engine.compile_expression(f"oneof(x, {text})")
    (d,) = info.value.diagnostics
    assert (d.code, d.column, d.end_column) == ("E004", 10, 10 + len(text))


def test_an_escaped_surrogate_pair_is_its_character() -> None:
    assert engine.compile_expression(r'"\uD83D\uDE00"').evaluate({}) == "\U0001f600"


@pytest.mark.parametrize("width", [64, 65, 3000])
def test_a_wide_oneof_compiles_and_answers_like_a_narrow_one(width: int) -> None:
    args = ", ".join(f"tolower(f{i})" for i in range(width))
    expr = engine.compile_expression(f"oneof({args})")
    assert expr.evaluate({f"f{width - 1}": "Last", "f0": ""}) == "last"
    assert expr.evaluate({}) is None


def test_deeply_shared_conditions_compile() -> None:
    terms = [f"exists(f{i})" for i in range(300)]
    fields = [FieldSpec(f"x{j}", "uid", guard="AND(" + ", ".join(terms[: 200 + j]) + ")")
              for j in range(3)]
    group = compile_group(fields, name="wide")
    assert group.apply({"uid": "u", **{f"f{i}": 1 for i in range(300)}}) == {
        "x0": "u", "x1": "u", "x2": "u"}

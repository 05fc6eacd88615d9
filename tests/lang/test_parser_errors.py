"""Lark's exceptions are translated in one place (`engine.lang.parser._translated`) and escape
nowhere: a syntax error is a `ConfigError`, a fault of the parser is never Lark's class."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import lark
import pytest

from engine.errors import ConfigError, RuntimeFailure, Source
from engine.lang import parser
from engine.lang.parser import parse_expression, parse_statements

ROOT = Path(__file__).resolve().parents[2]


def _imports_lark(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "lark" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "lark":
            return True
    return False


def test_only_the_parser_imports_lark() -> None:
    importers = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "engine").rglob("*.py")
                       if _imports_lark(p))
    assert importers == ["engine/lang/parser.py"]


@pytest.mark.parametrize("text", ["a +", "(a", '"open', "a ~ b", "SELECT FROM", "1 = = 2"])
def test_a_syntax_error_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_statements(text) if text.startswith("SELECT") else parse_expression(text)
    assert not isinstance(info.value, lark.exceptions.LarkError)
    assert isinstance(info.value.__cause__, lark.exceptions.LarkError)
    assert info.value.diagnostics[0].code in ("E001", "E002")


def test_text_the_transformer_refuses_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        parse_expression("99999999999999999999")
    assert isinstance(info.value.__cause__, lark.exceptions.VisitError)


def test_a_fault_in_the_transformer_is_its_own_exception(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    def broken(*args: Any) -> Any:
        raise ValueError("transformer fault")

    monkeypatch.setattr(parser._ToAst, "string", broken)
    with pytest.raises(ValueError, match="transformer fault") as info:
        parse_expression('"x"')
    assert isinstance(info.value.__cause__, lark.exceptions.VisitError)


def test_any_other_lark_error_is_a_runtime_failure() -> None:
    got = parser._translated(lark.exceptions.GrammarError("broken grammar"), Source("<x>", ""))
    assert isinstance(got, RuntimeFailure) and "broken grammar" in str(got)

"""A name nothing declares is phrased one way everywhere (`engine.errors.unknown`,
`UnknownName`): in the checker, in config validation, in the API and in the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.errors import EngineError, UnknownName, did_you_mean, unknown
from engine.lang.compiler import compile_expression

ROOT = Path(__file__).resolve().parents[1]


def test_a_diagnostic_names_the_kind_and_suggests_a_close_name() -> None:
    assert unknown("stream", "vists", {"visits", "orders"}) == (
        "unknown stream `vists`", "did you mean `visits`?")
    assert unknown("stream", "zzz", {"visits"}) == ("unknown stream `zzz`", None)
    assert did_you_mean("epochs", ["epochms", "email"]) == "did you mean `epochms`?"


def test_an_api_error_lists_what_the_config_declares() -> None:
    err = UnknownName("stream", "nope", ["orders", "visits"])
    assert isinstance(err, EngineError)
    assert str(err) == "unknown stream 'nope'; streams in the config: orders, visits"
    assert str(UnknownName("audience", "x", [])) == (
        "unknown audience 'x'; audiences in the config: none")
    assert str(UnknownName("export job", "dialy", ["daily"], plural="jobs")) == (
        "unknown export job 'dialy'; jobs in the config: daily; did you mean `daily`?")


def test_the_checker_uses_it() -> None:
    with pytest.raises(EngineError) as info:
        compile_expression("epochs()")
    assert "unknown function `epochs`; did you mean `epochms`?" in str(info.value)


def test_no_module_phrases_an_unknown_name_itself() -> None:
    phrasing = re.compile(r"f\"unknown [a-z ]+ (`\{|\{[a-z_.]+!r\})")
    found = [f"{p.relative_to(ROOT)}:{i}" for p in sorted((ROOT / "engine").rglob("*.py"))
             if p.name != "errors.py"
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             # a value an event gives (EvalFailure) is not a name the config declares
             if phrasing.search(line) and "EvalFailure(" not in line]
    assert found == []

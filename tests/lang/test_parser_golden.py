"""Golden parser cases: one file per case under tests/golden/parser/.

Each file holds the entry point, the input text and the expected AST dump or diagnostic.
Run with UPDATE_GOLDEN=1 to rewrite the expectations after a deliberate change, then review
the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.lang.parser import parse_expression, parse_statements
from engine.lang.printer import dump, dump_statement

CASES = sorted((Path(__file__).parent.parent / "golden" / "parser").glob("*.txt"))


def _split(text: str) -> tuple[str, str, str]:
    head, rest = text.split("-- input\n", 1)
    source, expected = rest.split("\n-- expect\n", 1)
    start = head.split("-- start:", 1)[1].strip()
    return start, source, expected


def _render(start: str, source: str) -> str:
    try:
        if start == "expression":
            return dump(parse_expression(source)) + "\n"
        return "\n".join(dump_statement(s) for s in parse_statements(source)) + "\n"
    except ConfigError as exc:
        return "\n".join(d.render() for d in exc.diagnostics) + "\n"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden(path: Path) -> None:
    start, source, expected = _split(path.read_text())
    actual = _render(start, source)
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(f"-- start: {start}\n-- input\n{source}\n-- expect\n{actual}")
        return
    assert actual == expected
    assert path.stem.startswith("error_") == ("error[" in actual)


def test_there_are_cases() -> None:
    assert len(CASES) >= 30

"""Helpers for config tests: the fixture folder and `(line, col, code)` triples to compare."""

from __future__ import annotations

from pathlib import Path

from engine.errors import Diagnostic

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "config"


def where(diagnostics: list[Diagnostic]) -> list[tuple[str, int, int, str]]:
    """Each diagnostic as (file name, line, column, code), in report order."""
    return [(Path(d.file).name, d.line, d.column, d.code) for d in diagnostics]

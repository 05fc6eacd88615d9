"""Diagnostics as the three formats `engine validate --format` offers (docs/config.md).

``text`` is for people (the one renderer in `engine.errors`: location, source line, caret);
``json`` is for tools (one object per diagnostic); ``github`` is GitHub Actions' workflow-command
syntax, so a CI run annotates the offending line of the pull request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import orjson

from engine.errors import Diagnostic

Format = Literal["text", "json", "github"]
FORMATS: tuple[Format, ...] = ("text", "json", "github")


def render(diagnostics: Sequence[Diagnostic], fmt: Format = "text") -> str:
    """All of `diagnostics` in format `fmt`; empty text (or ``[]``) when there are none."""
    if fmt == "json":
        return orjson.dumps([d.as_json() for d in diagnostics],
                            option=orjson.OPT_INDENT_2).decode()
    if fmt == "github":
        return "\n".join(github_line(d) for d in diagnostics)
    return "\n\n".join(d.render() for d in diagnostics)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_line(d: Diagnostic) -> str:
    """``::error file=…,line=…,col=…,endLine=…,endColumn=…::[CODE] message``, escaped as
    GitHub's workflow commands require (``%``, CR, LF everywhere; ``:`` and ``,`` in properties).
    """
    props = (f"file={_escape_property(d.file)},line={d.line},col={d.column},"
             f"endLine={d.end_line},endColumn={d.end_column}")
    return f"::{d.severity} {props}::{_escape_data(f'[{d.code}] {d.full_message}')}"


def summary(diagnostics: Sequence[Diagnostic], files: int) -> str:
    """One line for the end of a text report: counts, or that everything is valid."""
    errors = sum(d.severity == "error" for d in diagnostics)
    warnings = len(diagnostics) - errors
    checked = f"{files} file{'s' if files != 1 else ''}"
    if not diagnostics:
        return f"valid: {checked} checked"
    parts = [f"{errors} error{'s' if errors != 1 else ''}"] if errors else []
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return f"{', '.join(parts)} in {checked}"

"""Diagnostics as the formats `engine validate --format` and `engine test --format` offer
(docs/config.md, docs/ci.md).

``text`` is for people (the one renderer in `engine.errors`: location, source line, caret);
``json`` is for tools (one object per diagnostic); ``github`` is GitHub Actions' workflow-command
syntax, so a CI run annotates the offending line of the pull request; ``sarif`` is SARIF 2.1.0,
which code-scanning services (GitHub's among them) keep and show across runs; ``gitlab`` is
GitLab's Code Quality report, shown in the merge request.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any, Literal
from urllib.parse import quote

import orjson

from engine.errors import Diagnostic
from engine.version import engine_version

Format = Literal["text", "json", "github", "sarif", "gitlab"]
FORMATS: tuple[Format, ...] = ("text", "json", "github", "sarif", "gitlab")
CI_FORMATS: tuple[Format, ...] = ("github", "sarif", "gitlab")
"""The formats made for a CI service, which reads them from standard output."""

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# GitLab's Code Quality severities: info, minor, major, critical, blocker.
GITLAB_SEVERITY = {"error": "major", "warning": "minor"}


def render(diagnostics: Sequence[Diagnostic], fmt: Format = "text") -> str:
    """All of `diagnostics` in format `fmt`; empty text (or ``[]``) when there are none."""
    if fmt == "json":
        return orjson.dumps([d.as_json() for d in diagnostics],
                            option=orjson.OPT_INDENT_2).decode()
    if fmt == "github":
        return "\n".join(github_line(d) for d in diagnostics)
    if fmt == "sarif":
        return orjson.dumps(sarif_log(diagnostics), option=orjson.OPT_INDENT_2).decode()
    if fmt == "gitlab":
        return orjson.dumps(gitlab_report(diagnostics), option=orjson.OPT_INDENT_2).decode()
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


def _uri(path: str) -> str:
    """A file name as a SARIF URI: relative names stay relative (to where the command ran, the
    root of the checkout in CI), so a code-scanning service finds the file in the repository."""
    pure = PurePath(path)
    if pure.is_absolute():
        return "file://" + quote(pure.as_posix())
    return quote(pure.as_posix())


def sarif_log(diagnostics: Sequence[Diagnostic]) -> dict[str, Any]:
    """One SARIF 2.1.0 run of the engine: a rule per diagnostic code, a result per diagnostic."""
    codes = sorted({d.code for d in diagnostics})
    index = {code: i for i, code in enumerate(codes)}
    results = [{
        "ruleId": d.code,
        "ruleIndex": index[d.code],
        "level": d.severity,
        "message": {"text": d.full_message},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": _uri(d.file)},
            "region": {"startLine": d.line, "startColumn": d.column,
                       "endLine": d.end_line, "endColumn": max(d.end_column, d.column)},
        }}],
    } for d in diagnostics]
    driver = {"name": "cdp-engine", "version": engine_version(),
              "rules": [{"id": code} for code in codes]}
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0",
            "runs": [{"tool": {"driver": driver}, "results": results}]}


def gitlab_report(diagnostics: Sequence[Diagnostic]) -> list[dict[str, Any]]:
    """GitLab Code Quality issues. The fingerprint leaves the line out, so that an issue moved
    by an edit above it is not reported as new; repeats of one message in one file are told
    apart by their order."""
    seen: Counter[tuple[str, str, str]] = Counter()
    issues = []
    for d in diagnostics:
        key = (d.code, d.file, d.full_message)
        seen[key] += 1
        digest = hashlib.sha256("\0".join((*key, str(seen[key]))).encode()).hexdigest()
        issues.append({
            "description": f"[{d.code}] {d.full_message}",
            "check_name": d.code,
            "fingerprint": digest,
            "severity": GITLAB_SEVERITY[d.severity],
            "location": {"path": d.file, "lines": {"begin": d.line}},
        })
    return issues


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

"""The three report formats of `engine validate`."""

from __future__ import annotations

import json

from engine.config.report import github_line, render, summary
from engine.errors import Diagnostic, Source


def _diag() -> Diagnostic:
    src = Source("dir/a,b:c.yaml", "x: epochs()\n")
    return Diagnostic(src, 3, 9, "E101", "unknown function `epochs`\n100%",
                      "did you mean `epochms`?")


def test_text_is_the_shared_renderer() -> None:
    d = _diag()
    assert render([d], "text") == d.render()
    assert render([d, d], "text") == d.render() + "\n\n" + d.render()


def test_json_objects() -> None:
    [obj] = json.loads(render([_diag()], "json"))
    assert obj == {"file": "dir/a,b:c.yaml", "line": 1, "column": 4, "end_line": 1,
                   "end_column": 10, "code": "E101", "severity": "error",
                   "message": "unknown function `epochs`\n100%", "hint": "did you mean `epochms`?"}
    assert render([], "json") == "[]"


def test_github_escapes_data_and_properties() -> None:
    assert github_line(_diag()) == (
        "::error file=dir/a%2Cb%3Ac.yaml,line=1,col=4,endLine=1,endColumn=10::"
        "[E101] unknown function `epochs`%0A100%25; did you mean `epochms`?")


def test_summary() -> None:
    assert summary([], 2) == "valid: 2 files checked"
    assert summary([_diag()], 1) == "1 error in 1 file"

"""The report formats of `engine validate` and `engine test`, each checked against the syntax
or schema of the service that reads it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema

from engine.config.report import github_line, render, summary
from engine.errors import Diagnostic, Source

SARIF_SCHEMA = (Path(__file__).resolve().parents[1] / "fixtures" / "sarif"
                / "sarif-schema-2.1.0.json")

# GitHub's workflow command: ::name key=value,key=value::message. Property values escape %, CR,
# LF, `:` and `,`; the message escapes %, CR and LF.
WORKFLOW_COMMAND = re.compile(r"::(?P<name>error|warning|notice)"
                              r"(?: (?P<props>[^:\r\n]*))?::(?P<message>[^\r\n]*)")
PROPERTY = re.compile(r"(?P<key>[A-Za-z]+)=(?P<value>[^,:\r\n]*)")
UNESCAPE = {"%25": "%", "%0D": "\r", "%0A": "\n", "%3A": ":", "%2C": ","}


def _unescape(text: str) -> str:
    return re.sub(r"%(25|0D|0A|3A|2C)", lambda m: UNESCAPE[m.group(0)], text)


def _parse_workflow_command(line: str) -> tuple[str, dict[str, str], str]:
    match = WORKFLOW_COMMAND.fullmatch(line)
    assert match, line
    props = {}
    for part in match["props"].split(","):
        prop = PROPERTY.fullmatch(part)
        assert prop, part
        props[prop["key"]] = _unescape(prop["value"])
    assert "%" not in re.sub(r"%(25|0D|0A)", "", match["message"])
    return match["name"], props, _unescape(match["message"])


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


def test_github_lines_parse_as_workflow_commands_and_round_trip() -> None:
    src = Source("we%ird\r\n:dir,x/a.yaml", "a: 1\nb: bad\n")
    d = Diagnostic(src, 8, 11, "C001", "line one\r\nline two: 100% , sure",
                   severity="warning")
    name, props, message = _parse_workflow_command(github_line(d))
    assert name == "warning"
    assert props == {"file": "we%ird\r\n:dir,x/a.yaml", "line": "2", "col": "4",
                     "endLine": "2", "endColumn": "7"}
    assert message == "[C001] line one\r\nline two: 100% , sure"
    for line in render([_diag(), d], "github").split("\n"):
        _parse_workflow_command(line)


def _sarif_validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


def test_sarif_is_valid_sarif_2_1_0() -> None:
    warning = Diagnostic(Source("/abs/dir with space/m.yaml", "x\n"), 0, 0, "C027", "uuid",
                         severity="warning")
    log = json.loads(render([_diag(), warning, _diag()], "sarif"))
    _sarif_validator().validate(log)
    assert log["version"] == "2.1.0"
    [run] = log["runs"]
    assert run["tool"]["driver"]["name"] == "cdp-engine"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["C027", "E101"]
    first, second, _ = run["results"]
    assert first["ruleId"] == "E101" and first["ruleIndex"] == 1 and first["level"] == "error"
    assert first["message"]["text"] == ("unknown function `epochs`\n100%; "
                                        "did you mean `epochms`?")
    location = first["locations"][0]["physicalLocation"]
    assert location == {"artifactLocation": {"uri": "dir/a%2Cb%3Ac.yaml"},
                        "region": {"startLine": 1, "startColumn": 4, "endLine": 1,
                                   "endColumn": 10}}
    assert second["level"] == "warning"
    assert (second["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            == "file:///abs/dir%20with%20space/m.yaml")
    empty = json.loads(render([], "sarif"))
    _sarif_validator().validate(empty)
    assert empty["runs"][0]["results"] == []


def test_gitlab_code_quality_issues() -> None:
    issues = json.loads(render([_diag(), _diag()], "gitlab"))
    assert [set(i) for i in issues] == [{"description", "check_name", "fingerprint", "severity",
                                         "location"}] * 2
    first, second = issues
    assert first["check_name"] == "E101" and first["severity"] == "major"
    assert first["description"].startswith("[E101] unknown function `epochs`")
    assert first["location"] == {"path": "dir/a,b:c.yaml", "lines": {"begin": 1}}
    assert first["fingerprint"] != second["fingerprint"]  # repeats stay two issues
    # an edit above the problem moves it, but it stays the same issue
    moved = Diagnostic(Source("dir/a,b:c.yaml", "\n\nx: epochs()\n"), 5, 11, "E101",
                       "unknown function `epochs`\n100%", "did you mean `epochms`?")
    assert json.loads(render([moved], "gitlab"))[0]["fingerprint"] == first["fingerprint"]
    assert render([], "gitlab") == "[]"


def test_summary() -> None:
    assert summary([], 2) == "valid: 2 files checked"
    assert summary([_diag()], 1) == "1 error in 1 file"

"""`engine validate` and `engine test` for CI services: the formats, the exit codes, failed
config tests reported as T001 at the case."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from engine.cli import main
from engine.cli.setup import init

SARIF_SCHEMA = (
    Path(__file__).resolve().parents[1] / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"
)
FAILING_CASE = "an email open makes an engaged member, sent to Customer.io"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


@pytest.fixture
def failing(tmp_path: Path) -> tuple[Path, int]:
    """A starter config whose first test case expects what does not happen; the line of the
    case's name."""
    init(tmp_path)
    config = tmp_path / "config.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("audiences: {engaged_email: true}", "audiences: {engaged_email: false}"),
        encoding="utf-8",
    )
    line = text[: text.index(f"- name: {FAILING_CASE}")].count("\n") + 1
    return config, line


def test_failed_case_as_sarif(
    failing: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    config, line = failing
    code, out, err = run(["test", "--config", str(config), "--format", "sarif"], capsys)
    assert code == 1
    log = json.loads(out)
    jsonschema.Draft7Validator(json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))).validate(log)
    [result] = log["runs"][0]["results"]
    assert result["ruleId"] == "T001"
    assert result["message"]["text"].startswith(
        f"config test {FAILING_CASE!r} failed: audience engaged_email: expected out"
    )
    region = result["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] == line
    assert re.fullmatch(r"\d+ passed, 1 failed", err.splitlines()[-1])


def test_failed_case_as_gitlab_and_github(
    failing: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    config, line = failing
    code, out, _ = run(["test", "--config", str(config), "--format", "gitlab"], capsys)
    assert code == 1
    [issue] = json.loads(out)
    assert issue["check_name"] == "T001" and issue["severity"] == "major"
    assert issue["location"] == {"path": str(config), "lines": {"begin": line}}
    code, out, _ = run(["test", "--config", str(config), "--format", "github"], capsys)
    assert code == 1
    assert out.startswith(f"::error file={config},line={line},col=")


def test_passing_tests_report_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init(tmp_path)
    config = str(tmp_path / "config.yaml")
    code, out, err = run(["test", "--config", config, "--format", "sarif"], capsys)
    assert code == 0 and json.loads(out)["runs"][0]["results"] == []
    assert re.fullmatch(r"\d+ passed, 0 failed\n", err)
    code, out, _ = run(["test", "--config", config, "--format", "gitlab"], capsys)
    assert (code, out) == (0, "[]\n")


def test_a_config_that_cannot_load_is_reported_in_the_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(tmp_path)
    mapping = tmp_path / "mappings" / "customerio.yaml"
    mapping.write_text("streams: [\n", encoding="utf-8")
    for command in ("test", "validate"):
        code, out, _ = run(
            [command, "--config", str(tmp_path / "config.yaml"), "--format", "gitlab"], capsys
        )
        assert code == 1
        issues = json.loads(out)
        assert str(mapping) in {i["location"]["path"] for i in issues}

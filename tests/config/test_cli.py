"""`engine validate` and `engine schema`: output and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from tests.config.conftest import FIXTURES, ROOT


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def test_valid_config_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["validate", "--config", str(FIXTURES / "valid.yaml")], capsys)
    assert (code, out) == (0, "")
    assert "valid: 2 files checked" in err


def test_acceptance_exit_1_lists_all_three(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["validate", "--config", str(FIXTURES / "acceptance.yaml")], capsys)
    assert code == 1
    heads = [line for line in out.splitlines() if ": error[" in line]
    assert [h.split(": error")[0].rsplit("/", 1)[-1] for h in heads] == [
        "acceptance_mapping.yaml:7:19", "acceptance_mapping.yaml:10:34",
        "acceptance_mapping.yaml:11:33"]
    assert "unknown function `epochs`; did you mean `epochms`?" in out


def test_json_and_github_formats(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(FIXTURES / "acceptance.yaml")
    code, out, _ = run(["validate", "--config", cfg, "--format", "json"], capsys)
    assert code == 1
    assert [(d["line"], d["column"], d["code"]) for d in json.loads(out)] == [
        (7, 19, "C018"), (10, 34, "E101"), (11, 33, "E105")]
    code, out, _ = run(["validate", "--config", cfg, "--format", "github"], capsys)
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 3 and all(line.startswith("::error file=") for line in lines)
    assert ",line=10,col=34,endLine=10,endColumn=40::[E101] unknown function" in lines[1]


def test_set_overrides_and_extra_paths(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(FIXTURES / "valid.yaml")
    code, _, _ = run(["validate", "--config", cfg, "--set", "server.max_body_bytes=lots"], capsys)
    assert code == 1
    code, out, _ = run(["validate", "--config", cfg, str(FIXTURES / "checks_mapping.yaml")],
                       capsys)
    assert code == 1 and "checks_mapping.yaml" in out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", "--config", "no/such.yaml"], capsys)[0] == 2
    assert run(["validate", "--config", str(FIXTURES / "valid.yaml"), "--set", "nokey"],
               capsys)[0] == 2
    with pytest.raises(SystemExit) as exit_:
        main(["validate", "--format", "xml"])
    assert exit_.value.code == 2


def test_default_config_is_config_yaml_else_example(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(["validate"], capsys)[0] == 2
    (tmp_path / "config.example.yaml").write_text("version: 1\n")
    assert run(["validate"], capsys)[0] == 0
    (tmp_path / "config.yaml").write_text("version: 2\n")
    code, out, _ = run(["validate"], capsys)
    assert code == 1 and out.startswith("config.yaml:1:10: error[C004]")


def test_schema_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["schema"], capsys)
    assert code == 0 and json.loads(out)["title"] == "cdp-engine config"
    code, out, _ = run(["schema", "mapping"], capsys)
    assert json.loads(out)["title"] == "cdp-engine mapping file"


def test_shipped_example_config_is_valid() -> None:
    example = ROOT / "config.example.yaml"
    if not example.is_file():
        pytest.skip("no config.example.yaml")
    proc = subprocess.run([sys.executable, "-m", "engine", "validate", "--config", str(example)],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr

"""docs/ci.md stays true: every `engine …` command line it shows parses with the real argument
parser, and the pre-commit hooks it names are the ones `.pre-commit-hooks.yaml` declares."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from engine.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
CI_DOC = ROOT / "docs" / "ci.md"


def documented_commands() -> list[str]:
    """Each `engine …` command of the doc's code blocks, without what the shell adds around it
    (a YAML list dash, `run:`, a redirection)."""
    commands = []
    for block in re.findall(r"```\w*\n(.*?)```", CI_DOC.read_text(encoding="utf-8"), re.S):
        for line in block.splitlines():
            match = re.match(r"\s*(?:-\s*)?(?:run:\s*)?engine\s+(.*)", line)
            if match:
                commands.append(match.group(1).split(">")[0].strip())
    return commands


def test_the_doc_shows_commands() -> None:
    assert len(documented_commands()) >= 5


@pytest.mark.parametrize("command", documented_commands())
def test_each_command_parses(command: str) -> None:
    args = build_parser().parse_args(shlex.split(command))
    assert args.run is not None


def test_every_format_of_the_table_is_accepted() -> None:
    text = CI_DOC.read_text(encoding="utf-8")
    table = re.findall(r"^\| `(\w+)` \|", text.split("## Formats", 1)[1].split("##", 1)[0], re.M)
    assert table == ["text", "json", "github", "sarif", "gitlab"]
    for command in ("validate", "test"):
        for fmt in table:
            assert build_parser().parse_args([command, "--format", fmt]).format == fmt


def test_the_hooks_named_are_the_hooks_declared() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    declared = {hook["id"] for hook in hooks}
    assert declared == {"engine-validate", "engine-test"}
    text = CI_DOC.read_text(encoding="utf-8")
    assert set(re.findall(r"- id: (\S+)", text)) == declared
    for hook in hooks:
        assert hook["pass_filenames"] is False and hook["language"] == "python"
        assert re.search(hook["files"], "mappings/customerio.lql")
        assert re.search(hook["files"], "config.yaml")
        build_parser().parse_args(shlex.split(hook["entry"])[1:])

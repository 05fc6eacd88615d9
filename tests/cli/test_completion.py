"""`engine completion SHELL`: scripts generated from the argument parser, loaded by the real
shells; config names (streams, audiences, export jobs) come from `engine complete-names`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.setup import init

BASH_COMPLETE = """
source "$1"
complete_line() {
    read -r -a COMP_WORDS <<< "$1"
    [[ "$1" == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}
    COMPREPLY=(); _shtab_engine
    echo "${COMPREPLY[*]}"
}
shift
for line in "$@"; do complete_line "$line"; done
"""


def engine(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=cwd,
    )


def shell_env() -> dict[str, str]:
    """The scripts call `engine`: the one of this environment."""
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    init(tmp_path)
    return tmp_path


@pytest.fixture
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another project, whose export job has another name: its config, named by `--config`."""
    folder = tmp_path_factory.mktemp("elsewhere")
    init(folder)
    config = folder / "config.yaml"
    config.write_text(config.read_text().replace("engaged_to_customerio", "other_job"))
    return config


def script(shell: str, folder: Path) -> Path:
    path = folder / f"engine.{shell}"
    path.write_text(engine("completion", shell).stdout, encoding="utf-8")
    return path


def test_bash_completes_commands_options_choices_and_config_names(
    project: Path, elsewhere: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    bash = shutil.which("bash")
    assert bash is not None, "bash is part of every machine that runs the tests"
    path = script("bash", tmp_path_factory.mktemp("scripts"))
    subprocess.run([bash, "-n", str(path)], check=True, timeout=30)
    lines = [
        "engine va",
        "engine validate --format ",
        "engine export run ",
        "engine ingest --stream ",
        "engine audience members ",
        "engine audience ",
        "engine serve --ro",
        "engine ",
        f"engine export run --config {elsewhere} ",
        f"engine export run --allow-path {elsewhere.parent} --config {elsewhere} ",
    ]
    result = subprocess.run(
        [bash, "-c", BASH_COMPLETE, "bash", str(path), *lines],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=project,
        env=shell_env(),
    )
    answers = dict(zip(lines, result.stdout.splitlines(), strict=True))
    assert answers["engine va"] == "validate"
    assert answers["engine validate --format "] == "text json github sarif gitlab"
    assert answers["engine export run "] == "engaged_to_customerio"
    assert answers["engine ingest --stream "] == "customerio customerio_events"
    assert answers["engine audience members "] == "engaged_email"
    assert answers["engine audience "] == "list members"
    assert answers["engine serve --ro"] == "--role"
    commands = answers["engine "].split()
    assert {"init", "completion", "validate", "test", "serve", "export"} <= set(commands)
    assert "complete-names" not in commands  # hidden: the scripts call it, users do not
    # The names come from the config the command line names.
    for line in lines[-2:]:
        assert answers[line] == "other_job", line
    # `--config=PATH`, one word as typed or three as bash breaks it at "=", is passed on too.
    forms = subprocess.run(
        [bash, "-c", f'source "{path}"; for w in "--config=~/x.yaml" "--config = ~/x.yaml"; do '
         'read -r -a COMP_WORDS <<< "engine export run $w --allow-path /d x"; '
         'COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); _engine_config_args; '
         'echo "${_engine_cfg[*]}"; done'],
        capture_output=True, text=True, timeout=30, check=True,
        env={**shell_env(), "HOME": "/home/someone"},
    )
    assert forms.stdout.splitlines() == ["--config /home/someone/x.yaml --allow-path /d"] * 2


def test_fish_completes_config_names(
    project: Path, elsewhere: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    fish = shutil.which("fish")
    if fish is None:
        pytest.skip("fish is not installed here")
    path = script("fish", tmp_path_factory.mktemp("scripts"))
    subprocess.run([fish, "--no-execute", str(path)], check=True, timeout=30)
    result = subprocess.run(
        [
            fish,
            "-c",
            f"source {path}; complete -C 'engine export run '; "
            f"complete -C 'engine export run --config {elsewhere} '; "
            f"complete -C 'engine export run --config={elsewhere} '; "
            "complete -C 'engine validate --format '",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=project,
        env=shell_env(),
    )
    completions = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert completions[:3] == ["engaged_to_customerio", "other_job", "other_job"]
    assert sorted(completions[3:]) == ["github", "gitlab", "json", "sarif", "text"]


def test_zsh_script_loads_and_passes_the_config_on(tmp_path: Path, elsewhere: Path) -> None:
    zsh = shutil.which("zsh")
    if zsh is None:
        pytest.skip("zsh is not installed here")
    path = script("zsh", tmp_path)
    subprocess.run([zsh, "-n", str(path)], check=True, timeout=30)
    result = subprocess.run(
        [
            zsh,
            "-f",
            "-c",
            f"autoload -U compinit && compinit -u && source {path} && "
            "whence -w _shtab_engine _engine_jobs && "
            # what the completion system sets while the word after `run` is completed
            f"words=(engine export run --config '{elsewhere}' --allow-path={elsewhere.parent} '') "
            "CURRENT=7 _engine_config_args && print -l -- $_engine_cfg",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=shell_env(),
    )
    assert result.stdout.split() == [
        "_shtab_engine:", "function", "_engine_jobs:", "function",
        "--config", str(elsewhere), "--allow-path", str(elsewhere.parent),
    ]


def test_complete_names_is_quiet_without_a_config(project: Path, tmp_path: Path) -> None:
    assert engine("complete-names", "stream", cwd=project).stdout == (
        "customerio\ncustomerio_events\n"
    )
    assert engine("complete-names", "job", cwd=project).stdout == "engaged_to_customerio\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    result = engine("complete-names", "audience", cwd=empty)
    assert (result.stdout, result.stderr) == ("", "")
    assert "complete-names" not in engine("--help").stdout

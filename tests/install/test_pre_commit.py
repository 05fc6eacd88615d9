"""The pre-commit hooks of `.pre-commit-hooks.yaml`, installed by `pre-commit` from this
checkout into a config repository as a user's would be: the repository's
`.pre-commit-config.yaml` names this checkout (a git repository) at a commit. The valid config
passes both hooks, a planted error fails `engine-validate` naming its file, line and column.

Installing the hooks' environment (the engine and its dependencies) is the slow part: the tests
share one pre-commit home, so it is installed once, as on a user's machine.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from engine.cli.setup import init
from tests.install.conftest import ROOT, checked, clean_env, git_commit, run

PLANTED = 'filter: last_active_ts > "now-30d" AND exists(email)'


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def run_hooks(sample: Path, home: Path) -> tuple[int, str, dict[str, str]]:
    """`pre-commit run` of every hook on every file of `sample`: the exit status, the output,
    and each hook's outcome by its name."""
    env = {**clean_env(), "PRE_COMMIT_COLOR": "never", "PRE_COMMIT_HOME": str(home)}
    bin_dir = str(Path(sys.executable).parent)  # pre-commit's virtualenv, beside it
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    cmd = [sys.executable, "-m", "pre_commit", "run", "--all-files", "--verbose"]
    result = run(cmd, cwd=sample, env=env)
    output = result.stdout + result.stderr
    outcomes = dict(re.findall(r"^(engine \w+)\.+(Passed|Failed|Skipped)", output, re.M))
    return result.returncode, output, outcomes


def sample_repo(folder: Path, hook_repo: Path, *, planted: bool) -> tuple[int, int]:
    """A config repository made by `engine init`, with both hooks of `hook_repo` at its commit,
    committed; with `planted`, an audience filter calls a function that does not exist. The
    line and column of that call."""
    init(folder)
    rev = checked(["git", "rev-parse", "HEAD"], cwd=hook_repo).stdout.strip()
    (folder / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hook_repo}\n    rev: {rev}\n"
        "    hooks:\n      - id: engine-validate\n      - id: engine-test\n", encoding="utf-8")
    config = folder / "config.yaml"
    text = config.read_text(encoding="utf-8")
    call = text.index(PLANTED) + PLANTED.index("exists(")
    line = text[:call].count("\n") + 1
    column = call - text.rindex("\n", 0, call)
    if planted:
        config.write_text(
            text.replace(PLANTED, PLANTED.replace("exists(", "exist(")), encoding="utf-8"
        )
    git_commit(folder, "config")
    return line, column


def test_hooks_pass_on_a_valid_config(
    hook_repo: Path, pre_commit_home: Path, tmp_path: Path
) -> None:
    sample_repo(tmp_path, hook_repo, planted=False)
    code, output, outcomes = run_hooks(tmp_path, pre_commit_home)
    assert code == 0, output
    assert outcomes == {"engine validate": "Passed", "engine test": "Passed"}, output


def test_validate_hook_fails_on_a_planted_error_naming_its_line(
    hook_repo: Path, pre_commit_home: Path, tmp_path: Path
) -> None:
    line, column = sample_repo(tmp_path, hook_repo, planted=True)
    code, output, outcomes = run_hooks(tmp_path, pre_commit_home)
    assert code == 1, output
    # the tests cannot run on a config that does not load: that hook fails too
    assert outcomes == {"engine validate": "Failed", "engine test": "Failed"}, output
    assert f"config.yaml:{line}:{column}: error[E101]: unknown function `exist`" in output


def test_the_hooks_file_is_a_valid_manifest() -> None:
    checked(
        [
            sys.executable,
            "-m",
            "pre_commit",
            "validate-manifest",
            str(ROOT / ".pre-commit-hooks.yaml"),
        ]
    )

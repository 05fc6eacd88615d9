"""The pre-commit hooks of `.pre-commit-hooks.yaml`, installed by `pre-commit try-repo` from this
checkout into a config repository as a user's would be: the valid config passes both hooks, a
planted error fails `engine-validate` naming its file, line and column.

`try-repo` installs the hook repository afresh on each call (into a store of its own), which is
the slow part: each call here runs both hooks at once.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from engine.cli.setup import init
from tests.install.conftest import ROOT, checked, clean_env, git_commit, run

PLANTED = 'filter: last_active_ts > "now-30d" AND exists(email)'


def try_repo(hook_repo: Path, sample: Path) -> tuple[int, str, dict[str, str]]:
    """`pre-commit try-repo` of every hook on every file of `sample`: the exit status, the
    output, and each hook's outcome by its name."""
    env = {**clean_env(), "PRE_COMMIT_COLOR": "never"}
    bin_dir = str(Path(sys.executable).parent)  # pre-commit's virtualenv, beside it
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    cmd = [
        sys.executable,
        "-m",
        "pre_commit",
        "try-repo",
        str(hook_repo),
        "--all-files",
        "--verbose",
    ]
    result = run(cmd, cwd=sample, env=env)
    output = result.stdout + result.stderr
    outcomes = dict(re.findall(r"^(engine \w+)\.+(Passed|Failed|Skipped)", output, re.M))
    return result.returncode, output, outcomes


def sample_repo(folder: Path, *, planted: bool) -> tuple[int, int]:
    """A config repository made by `engine init`, committed; with `planted`, an audience filter
    calls a function that does not exist. The line and column of that call."""
    init(folder)
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


def test_hooks_pass_on_a_valid_config(hook_repo: Path, tmp_path: Path) -> None:
    sample_repo(tmp_path, planted=False)
    code, output, outcomes = try_repo(hook_repo, tmp_path)
    assert code == 0, output
    assert outcomes == {"engine validate": "Passed", "engine test": "Passed"}, output


def test_validate_hook_fails_on_a_planted_error_naming_its_line(
    hook_repo: Path, tmp_path: Path
) -> None:
    line, column = sample_repo(tmp_path, planted=True)
    code, output, outcomes = try_repo(hook_repo, tmp_path)
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

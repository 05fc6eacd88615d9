"""The engine as a user gets it: a wheel built from this checkout, installed into a fresh venv.

These tests are the slow ones (a wheel build, a venv, an install), so what they build is made
once per session and shared. Everything comes from the package index pip is configured with and
its cache; nothing here needs the internet beyond what `make test` already installs from.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT_S = 600


def run(
    cmd: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = INSTALL_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """`cmd` in `env` (the whole environment; default: this process's)."""
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def checked(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = run(cmd, **kwargs)  # type: ignore[arg-type]
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result


def clean_env() -> dict[str, str]:
    """The environment without what points Python at this checkout: the installed engine must
    stand on its own."""
    return {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    }


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this checkout, as `python -m build` makes it for a release."""
    out = tmp_path_factory.mktemp("dist")
    checked([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)])
    (built,) = out.glob("cdp_engine-*.whl")
    return built


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """The `bin/` of a fresh venv holding the wheel, installed as a user would (not editable);
    its dependencies come from pip's index and cache, installed by this venv's pip."""
    venv = tmp_path_factory.mktemp("venv")
    checked([sys.executable, "-m", "venv", "--clear", "--without-pip", str(venv)])
    checked(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            str(wheel),
        ]
    )
    return venv / "bin"


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A git repository holding this checkout as it is now (committed or not), committed: what
    a config repository's pre-commit installs the hooks from."""
    repo = tmp_path_factory.mktemp("hook-repo")
    listed = checked(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    git_commit(repo, "the engine")
    yield repo


def git_commit(repo: Path, message: str) -> None:
    """`git init` (once) and commit everything in `repo`."""
    if not (repo / ".git").exists():
        checked(["git", "init", "--quiet", "--initial-branch=main"], cwd=repo)
    checked(["git", "add", "--all"], cwd=repo)
    checked(
        [
            "git",
            "-c",
            "user.name=engine tests",
            "-c",
            "user.email=tests@example.invalid",
            "-c",
            "commit.gpgsign=false",
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            message,
        ],
        cwd=repo,
    )

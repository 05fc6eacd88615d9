"""`engine --version` and `engine init`, as a user runs them."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

from engine.version import engine_version


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def test_version_names_the_distribution_and_python() -> None:
    result = run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"engine {engine_version()} (cdp-engine, Python {platform.python_version()})\n"
    )
    assert engine_version() != "0+unknown"  # the test environment installs the project


def test_init_writes_a_config_that_validates_and_passes_its_tests(tmp_path: Path) -> None:
    result = run("init", "starter", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    target = tmp_path / "starter"
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == [
        "config.yaml",
        "mappings/customerio.lql",
        "mappings/customerio.yaml",
    ]
    assert result.stdout.endswith(
        "next:\n  cd starter\n  engine validate\n  engine test\n  engine serve\n"
    )
    # the config names the copies, so an edit of them is what the engine then uses
    (target / "mappings" / "customerio.yaml").write_text("streams: [", encoding="utf-8")
    broken = run("validate", cwd=target)
    assert broken.returncode == 1 and "mappings/customerio.yaml:1:" in broken.stdout
    assert run("init", "--force", cwd=target).returncode == 0
    valid = run("validate", cwd=target)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    tested = run("test", cwd=target)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_init_in_the_current_folder_prints_no_cd(tmp_path: Path) -> None:
    result = run("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "cd " not in result.stdout
    assert (tmp_path / "config.yaml").is_file()


def test_init_refuses_to_overwrite_and_names_every_file(tmp_path: Path) -> None:
    (tmp_path / "mappings").mkdir()
    (tmp_path / "config.yaml").write_text("mine\n", encoding="utf-8")
    (tmp_path / "mappings" / "customerio.yaml").write_text("mine too\n", encoding="utf-8")
    result = run("init", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr == (
        f"engine: error: init: will not overwrite {tmp_path}/config.yaml, "
        f"{tmp_path}/mappings/customerio.yaml (use --force to replace "
        "them)\n"
    )
    assert (tmp_path / "config.yaml").read_text(encoding="utf-8") == "mine\n"
    assert not (tmp_path / "mappings" / "customerio.lql").exists()  # nothing written at all

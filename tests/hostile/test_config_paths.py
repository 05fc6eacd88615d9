"""Files a config names: confined to its folder, read only when they are regular files.

Found by validating a config with ``mappings: ["/etc/shadow"]``, which printed that file's lines
in its diagnostics, and ``mappings: ["/dev/zero"]``, which hung `engine validate`. A config
from a pull request is hostile input (CI validates it), so a named file must lie in the
config's folder (symlinks and ``..`` resolved) or in a folder allowed with ``--allow-path`` or
``ENGINE_ALLOW_PATHS``; devices, FIFOs and directories are refused before they are opened for
reading; and a file that is not a config is reported without quoting it (docs/config.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.hostile.cli import assert_clean_failure, run_engine

SECRET = "root:$6$s3cr3tHash$abcdefghij:19000:0:99999:7:::"


def _config(folder: Path, mapping: str) -> Path:
    config = folder / "config.yaml"
    config.write_text(f"version: 1\nmappings: [{mapping!r}]\n")
    return config


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the config's, holding a file that is not a config."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "shadow").write_text(SECRET + "\n")
    return other


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink"])
def test_a_file_outside_the_config_folder_is_refused(tmp_path: Path, outside: Path,
                                                       how: str) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    name = {"absolute": str(outside / "shadow"), "dotdot": "../other/shadow",
            "symlink": "link.yaml"}[how]
    if how == "symlink":
        (folder / "link.yaml").symlink_to(outside / "shadow")
    config = _config(folder, name)
    for command in (["validate"], ["test"]):
        result = run_engine(*command, "--config", config, timeout=30)
        assert_clean_failure(result)
        output = result.stdout + result.stderr
        assert f"{config}:2:12" in output or f"file={config},line=2" in output, output
        assert "C026" in output and "outside the config's folder" in output
        assert "s3cr3t" not in output


def test_an_allowed_file_that_is_not_a_config_is_never_quoted(tmp_path: Path,
                                                                outside: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    config = _config(folder, str(outside / "shadow"))
    for extra_args, env in [(["--allow-path", str(outside)], {}),
                            ([], {"ENGINE_ALLOW_PATHS": f"/nonexistent{os.pathsep}{outside}"})]:
        result = run_engine("validate", "--config", config, *extra_args, env=env, timeout=30)
        assert_clean_failure(result)
        output = result.stdout + result.stderr
        assert f"{outside / 'shadow'}:1:1" in output, output
        assert "C026" not in output
        assert "s3cr3t" not in output and "root:" not in output


@pytest.mark.parametrize("kind", ["device", "fifo", "directory"])
def test_devices_fifos_and_folders_are_refused_without_hanging(tmp_path: Path,
                                                                 kind: str) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    if kind == "device":
        target, allow = "/dev/zero", ["--allow-path", "/dev"]
    elif kind == "fifo":
        os.mkfifo(folder / "pipe.yaml")
        target, allow = "pipe.yaml", []
    else:
        (folder / "dir.yaml").mkdir()
        target, allow = "dir.yaml", []
    config = _config(folder, target)
    result = run_engine("validate", "--format", "github", "--config", config, *allow,
                        timeout=20)
    assert_clean_failure(result)
    assert f"file={config},line=2,col=12" in result.stdout
    assert "[C007]" in result.stdout and "not a regular file" in result.stdout


def test_files_inside_the_folder_still_load(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "m.yaml").write_text("streams: [{name: events}]\n")
    (folder / "real.yaml").write_text("streams: [{name: more}]\n")
    (folder / "sub" / "up.yaml").symlink_to(folder / "real.yaml")
    config = folder / "config.yaml"
    config.write_text("version: 1\nmappings: [sub/m.yaml, sub/../sub/up.yaml]\n")
    result = run_engine("validate", "--config", config, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid: 3 files checked" in result.stderr

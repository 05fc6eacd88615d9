"""deploy/systemd/engine.service: systemd accepts it (where `systemd-analyze` exists), and it
asks for what docs/operations.md promises: reload by SIGHUP, a graceful stop by SIGTERM,
restarts after failures, a user of its own, a state directory, hardening, secrets from a file.
That the daemon reloads on SIGHUP and stops gracefully on SIGTERM is pinned by
tests/server/test_lifecycle.py."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from configparser import ConfigParser
from pathlib import Path

import pytest

from engine.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "systemd" / "engine.service"
INSTALLED_ENGINE = "/opt/cdp-engine/bin/engine"


def _service() -> dict[str, str]:
    parser = ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    return dict(parser["Service"])


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    # verify checks that ExecStart's program exists: point it at this environment's engine
    engine = Path(sys.executable).parent / "engine"
    unit = tmp_path / "engine.service"
    unit.write_text(
        UNIT.read_text(encoding="utf-8").replace(INSTALLED_ENGINE, str(engine)), encoding="utf-8"
    )
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # an unknown key or bad value is only a warning


def test_the_command_is_one_the_engine_accepts() -> None:
    command = shlex.split(_service()["ExecStart"])
    assert command[0] == INSTALLED_ENGINE
    args = build_parser().parse_args(command[1:])
    assert args.command == "serve"
    assert "storage.path=/var/lib/engine/engine.db" in args.overrides


def test_reload_stop_restart_user_state_and_hardening() -> None:
    service = _service()
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["KillSignal"] == "SIGTERM" and service["KillMode"] == "mixed"
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "1 2"  # an invalid config: no restart loop
    assert service["DynamicUser"] == "yes" and service["StateDirectory"] == "engine"
    assert service["EnvironmentFile"].startswith("-/etc/engine/")
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert service[key] == value, key

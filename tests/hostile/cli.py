"""The engine CLI as users run it: a subprocess with a deadline and a memory ceiling.

A hostile input must fail fast with a clear message, not hang or eat the machine, so every run
has a timeout (a hang fails the test instead of stalling the suite) and an address-space limit
(a blow-up fails the run instead of swapping).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

ENGINE = Path(sys.executable).parent / "engine"
MEMORY_LIMIT_BYTES = 1536 * 1024 * 1024


def run_engine(*args: str | Path, timeout: float = 60, cwd: Path | None = None,
               env: Mapping[str, str] | None = None,
               memory_limit: int = MEMORY_LIMIT_BYTES) -> subprocess.CompletedProcess[str]:
    """Run ``engine ARGS…``; fail the test (not hang it) when it takes longer than `timeout`.

    `env` is added to a copy of this process's environment.
    """

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    full_env = {**os.environ, **(env or {})}
    command = [str(ENGINE), *(str(a) for a in args)]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              cwd=cwd, env=full_env, preexec_fn=limit, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`engine {' '.join(command[1:])}` did not finish in {timeout} s")


def assert_clean_failure(result: subprocess.CompletedProcess[str]) -> None:
    """Refused as invalid input (exit 1) with a message, never a traceback or a crash."""
    assert result.returncode == 1, (result.returncode, result.stdout[-2000:],
                                    result.stderr[-2000:])
    assert "Traceback" not in result.stderr + result.stdout
    assert "MemoryError" not in result.stderr + result.stdout

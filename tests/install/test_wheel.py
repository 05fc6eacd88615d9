"""The wheel installed on its own: every file the engine needs at run time must be in it.

In an empty folder of a fresh venv holding only the wheel (not this checkout), the first
commands a user runs must work: a file left out of the wheel (the grammar, the mappings, the
starter config, a schema) fails here rather than on a user's machine.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import zipfile
from pathlib import Path

import httpx

from engine.version import engine_version
from tests.install.conftest import checked, clean_env, run

START_TIMEOUT_S = 60


def test_the_wheel_ships_the_data_files(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in (
        "engine/_data/grammar/lql.lark",
        "engine/_data/mappings/customerio.yaml",
        "engine/_data/mappings/customerio.lql",
        "engine/_data/config.example.yaml",
        "engine/config/schemas/config.schema.json",
        "engine/py.typed",
        "engine/ui/static/style.css",
        "engine/ui/static/vendor/htmx.min.js",
        "engine/ui/static/vendor/LICENSE-htmx",
        "engine/ui/templates/base.html",
    ):
        assert data in names, data


def test_init_validate_test_eval_in_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    env = clean_env()
    engine = str(installed / "engine")
    version = checked([engine, "--version"], cwd=tmp_path, env=env).stdout
    assert version.startswith(f"engine {engine_version()} ")
    # the wheel's own engine package answers, not this checkout's
    where = checked(
        [str(installed / "python"), "-c", "import engine; print(engine.__file__)"],
        cwd=tmp_path,
        env=env,
    ).stdout
    assert where.startswith(str(installed.parent)), where
    checked([engine, "init"], cwd=tmp_path, env=env)
    assert "valid: 2 files checked" in checked([engine, "validate"], cwd=tmp_path, env=env).stderr
    tests = checked([engine, "test"], cwd=tmp_path, env=env).stdout
    assert tests.splitlines()[-1].endswith(" passed, 0 failed")
    value = checked(
        [
            engine,
            "eval",
            "hash(urlmain(href))",
            "--event",
            '{"href":"https://www.lytics.io/?utm_source=google"}',
        ],
        cwd=tmp_path,
        env=env,
    )
    assert value.stdout == "1272651684649158109\n"


def test_serve_answers_healthz(installed: Path, tmp_path: Path) -> None:
    env = clean_env()
    engine = str(installed / "engine")
    checked([engine, "init"], cwd=tmp_path, env=env)
    log = tmp_path / "serve.log"
    with socket.socket() as sock, log.open("w") as err:  # a port bound by the test: no race
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        fd = sock.fileno()
        port = sock.getsockname()[1]
        proc = subprocess.Popen(
            [engine, "serve", "--listen-fd", str(fd)],
            pass_fds=(fd,),
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    with proc:
        try:
            assert proc.stdout is not None
            banner = []
            for line in proc.stdout:  # the banner is printed once the daemon listens
                banner.append(line)
                if "collecting at" in line:
                    break
            else:
                raise AssertionError(
                    "engine serve exited at start:\n"
                    + "".join(banner)
                    + log.read_text(encoding="utf-8")
                )
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=START_TIMEOUT_S)
            assert health.json() == {"status": "ok"}
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=START_TIMEOUT_S).text
            assert f'version="{engine_version()}"' in metrics
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=START_TIMEOUT_S)
    assert proc.returncode == 0, log.read_text(encoding="utf-8")
    assert (tmp_path / ".engine" / "engine.db").is_file()


def test_a_missing_file_names_itself(installed: Path, tmp_path: Path) -> None:
    result = run(
        [str(installed / "engine"), "validate", "--config", "nowhere.yaml"],
        cwd=tmp_path,
        env=clean_env(),
    )
    assert result.returncode == 2
    assert "nowhere.yaml" in result.stderr

"""`engine serve --listen-fd N` (docs/http.md): the daemon serves on a socket it inherits, and
refuses a descriptor that is not a listening TCP socket before it opens anything."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.server.conftest import ENGINE, ROOT, start, write_config


def test_the_daemon_answers_on_the_socket_it_was_handed(tmp_path: Path) -> None:
    daemon = start(write_config(tmp_path))  # `start` binds the port and passes it as --listen-fd
    try:
        assert daemon.url.startswith("http://127.0.0.1:") and not daemon.url.endswith(":1")
        with daemon.client() as c:
            assert c.get("/healthz").json() == {"status": "ok"}
    finally:
        assert daemon.stop() == 0
        daemon.close()


@pytest.mark.parametrize("kind", ["pipe", "unbound socket"])
def test_a_descriptor_that_is_not_a_listening_socket_stops_the_start(tmp_path: Path,
                                                                     kind: str) -> None:
    config = write_config(tmp_path)
    if kind == "pipe":
        fd, other = os.pipe()
        keep: list[int] = [fd, other]
    else:
        sock = socket.socket()
        fd = sock.fileno()
        keep = []
    try:
        done = subprocess.run([str(ENGINE), "serve", "--config", str(config), "--listen-fd",
                               str(fd)], pass_fds=(fd,), capture_output=True, text=True,
                              cwd=ROOT, timeout=60)
    finally:
        for each in keep:
            os.close(each)
        if kind != "pipe":
            sock.close()
    assert done.returncode == 3
    assert f"--listen-fd {fd} is not" in done.stderr
    assert not (tmp_path / "engine.db").exists()  # refused before the store was opened

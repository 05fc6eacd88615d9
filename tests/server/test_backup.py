"""The online backup of docs/operations.md: taken from a running daemon's SQLite store (WAL
mode, commits not yet checkpointed), the copy is whole and holds every acknowledged event."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.server.conftest import ROOT, Daemon
from tests.server.test_collect import hook, post

OPERATIONS = ROOT / "docs" / "operations.md"


def documented_backup_program() -> str:
    """The Python program of the doc's backup command, as a user would paste it."""
    text = OPERATIONS.read_text(encoding="utf-8")
    match = re.search(r"/bin/python -c '(.*?)' /var/lib/engine/engine.db", text, re.S)
    assert match, "docs/operations.md shows no Python backup command"
    return match.group(1)


def test_online_backup_while_the_daemon_writes(daemon: Daemon, tmp_path: Path) -> None:
    with daemon.client() as c:
        answer = post(c, json.dumps([hook(i, person=i) for i in range(1, 51)])).json()
        assert answer == {"accepted": 50, "duplicates": 0}
        copy = tmp_path / "backup.db"
        subprocess.run(
            [
                sys.executable,
                "-c",
                documented_backup_program(),
                str(daemon.config.parent / "engine.db"),
                str(copy),
            ],
            check=True,
            timeout=60,
        )
        assert c.get("/healthz").json() == {"status": "ok"}  # the daemon never noticed
    db = sqlite3.connect(copy)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM events").fetchone() == (50,)
    finally:
        db.close()
    assert not Path(f"{copy}-wal").exists() or Path(f"{copy}-wal").stat().st_size == 0

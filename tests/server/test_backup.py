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
    # the store's file first, then the log's (docs/operations.md): both whole
    for part, question, answer in (
            ("", "SELECT count(*) FROM sqlite_master WHERE name = 'profiles'", (1,)),
            ("-log", "SELECT count(*) FROM events", (50,))):
        db = sqlite3.connect(f"{copy}{part}")
        try:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert db.execute(question).fetchone() == answer
        finally:
            db.close()
        wal = Path(f"{copy}{part}-wal")
        assert not wal.exists() or wal.stat().st_size == 0

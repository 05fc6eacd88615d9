"""Copying an SQLite store's write-ahead log into its database, beside the writers."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class Checkpointer:
    """Copies the WAL into the database from a thread of its own, once it has grown past
    `wal_bytes`, so that the commits of the store's writers never wait for a checkpoint.

    A PASSIVE checkpoint copies what no reader still needs and never blocks a writer; the WAL
    file is then reused from its start."""

    def __init__(self, path: str, *, wal_bytes: int = 32 << 20, every_s: float = 0.5) -> None:
        self.path = path
        self.wal_bytes = wal_bytes
        self.every_s = every_s
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="engine-checkpoint", daemon=True)

    def start(self) -> None:
        if self.path != ":memory:":
            self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread.is_alive():
            self.thread.join(30)

    def _run(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout=10000")
        wal = Path(f"{self.path}-wal")
        try:
            while not self.stop_event.wait(self.every_s):
                try:
                    if wal.exists() and wal.stat().st_size > self.wal_bytes:
                        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except (sqlite3.Error, OSError):
                    continue  # the next round tries again; the WAL only grows meanwhile
        finally:
            db.close()

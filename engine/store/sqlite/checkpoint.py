"""Copying an SQLite store's write-ahead logs into their databases, beside the writers."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from engine.store.sqlite.files import log_file


class Checkpointer:
    """Copies each file's WAL (the store's and its event log's) into its database from a
    thread of its own, once it has grown past `wal_bytes`, so that the commits of the store's
    writers never wait for a checkpoint.

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
        files = (self.path, log_file(self.path))
        dbs = [sqlite3.connect(f, isolation_level=None, check_same_thread=False)
               for f in files]
        wals = [Path(f"{f}-wal") for f in files]
        for db in dbs:
            db.execute("PRAGMA busy_timeout=10000")
        try:
            while not self.stop_event.wait(self.every_s):
                for db, wal in zip(dbs, wals, strict=True):
                    try:
                        if wal.exists() and wal.stat().st_size > self.wal_bytes:
                            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    except (sqlite3.Error, OSError):
                        continue  # the next round tries again; the WAL only grows meanwhile
        finally:
            for db in dbs:
                db.close()

"""Exclusive roles on an SQLite store, held as `flock` locks on files beside it."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from engine.errors import RuntimeFailure, StoreUnavailable
from engine.store.base import LOCK_KINDS


class StoreLock:
    """Exclusive locks beside the store file: one for writing the event log, one for applying
    it to profiles.

    Two processes appending to the log would hand out the same seqs, and two applying it would
    apply its events twice. `engine ingest` takes both; the daemon's server takes the log lock
    and its processor process the apply lock. The kernel releases a lock when its process
    dies, however it dies, so a crash never leaves one behind.
    """

    def __init__(self, handles: list[IO[str]]) -> None:
        self._handles = handles

    @classmethod
    def acquire(cls, store_path: str | Path, kinds: Sequence[str] = LOCK_KINDS, *,
                wait: bool = False) -> StoreLock:
        """Take the locks of `kinds`; with `wait`, wait for a holder to let go instead of
        failing (a processor whose predecessor is still dying)."""
        handles: list[IO[str]] = []
        if str(store_path) == ":memory:":
            return cls(handles)
        try:
            for kind in kinds:
                handles.append(cls._take(Path(f"{store_path}.{kind}.lock"), store_path, wait))
        except BaseException:
            cls(handles).release()
            raise
        return cls(handles)

    @staticmethod
    def _take(path: Path, store_path: str | Path, wait: bool) -> IO[str]:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = path.open("a+")
        except OSError as exc:  # no folder can be made there, or no file written
            raise StoreUnavailable(f"cannot open the store at {store_path}: "
                                   f"{exc.strerror or exc}") from exc
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise RuntimeFailure(
                f"the store at {store_path} is in use by another engine process (pid "
                f"{holder}); stop it, or send events to its collect API") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        return handle

    def release(self) -> None:
        for handle in self._handles:
            handle.close()  # closing the file releases its lock
        self._handles = []

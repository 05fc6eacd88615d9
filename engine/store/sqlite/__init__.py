"""The embedded back end: one SQLite file (WAL) per store, locks and spill files beside it."""

from engine.store.sqlite.checkpoint import Checkpointer
from engine.store.sqlite.lock import StoreLock
from engine.store.sqlite.store import SqliteStore

__all__ = ["Checkpointer", "SqliteStore", "StoreLock"]

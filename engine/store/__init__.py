"""Where the engine keeps everything: the `Store` protocol and `open_store`, the one factory.

Callers name only what is here; which back end serves a store, and what it needs around it
(locks, durability modes, checkpoints, spill folders), is decided inside this package
(docs/store.md).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path

from engine.config.model import StorageSpec
from engine.errors import RuntimeFailure
from engine.store.base import (
    DAY_MS,
    HISTORY_DAYS,
    LOCK_KINDS,
    AudienceDay,
    DeadExport,
    DeadLetterRow,
    Durability,
    LogRow,
    Maintenance,
    NewEvent,
    OutboxItem,
    Store,
    is_unavailable,
)
from engine.store.sqlite import Checkpointer, SqliteStore, StoreLock

__all__ = [
    "DAY_MS",
    "HISTORY_DAYS",
    "LOCK_KINDS",
    "AudienceDay",
    "DeadExport",
    "DeadLetterRow",
    "Durability",
    "LogRow",
    "Maintenance",
    "NewEvent",
    "OutboxItem",
    "Store",
    "is_unavailable",
    "open_maintenance",
    "open_store",
]


_BACKENDS = ("sqlite", "postgres")
# The PostgreSQL back end, and with it its driver, loads when a store of that kind is opened:
# a process on the embedded default never pays for psycopg (docs/architecture.md).
_POSTGRES = "engine.store.postgres"


def _backend(storage: StorageSpec) -> str:
    if storage.backend not in _BACKENDS:
        raise RuntimeFailure(f"storage backend {storage.backend!r} is not available here")
    return storage.backend


class _NoMaintenance:
    """A server keeps itself: PostgreSQL checkpoints and vacuums on its own."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def open_store(storage: StorageSpec, *, path: str | Path | None = None,
               locks: Sequence[str] = (), wait_for_locks: bool = False,
               durability: Durability = "power-cut",
               background_checkpoints: bool = False, shared: bool = False) -> Store:
    """Open the store `storage` names (or the SQLite file at `path`), holding `locks`.

    `locks` are roles of `LOCK_KINDS` this store must hold alone ("log": writing the event log,
    "apply": applying it to profiles); taking one another process holds fails with
    `RuntimeFailure`, or waits with `wait_for_locks`. Closing the store releases them.
    `durability` is what each commit survives. `background_checkpoints`: the caller runs
    `open_maintenance` beside it, so that no commit of this store pays for upkeep. `shared`:
    opened by one of several appliers side by side (docs/scale-out.md); an SQLite store hands
    out seqs and profile ids in its applying process, so there it still takes "apply"."""
    writes_log = "log" in locks or shared  # a shared applier keeps what it applies
    if shared and _backend(storage) == "sqlite":
        locks = tuple(dict.fromkeys([*locks, "apply"]))
    if _backend(storage) == "postgres":
        store: Store = importlib.import_module(_POSTGRES).PostgresStore(
            storage.dsn, storage.schema, durability=durability, locks=locks,
            wait_for_locks=wait_for_locks)
        return store
    where = storage.path if path is None else path
    lock = StoreLock.acquire(where, locks, wait=wait_for_locks) if locks else None
    try:
        return SqliteStore(where, durability=durability,
                           background_checkpoints=background_checkpoints, lock=lock,
                           writes_log=writes_log, writes_store=set(locks) != {"log"})
    except BaseException:
        if lock is not None:
            lock.release()
        raise


def open_maintenance(storage: StorageSpec) -> Maintenance:
    """The background upkeep a daemon runs beside stores opened with background checkpoints
    (call `start`, then `stop` at shutdown)."""
    if _backend(storage) == "postgres":
        return _NoMaintenance()
    return Checkpointer(storage.path)

"""What the console needs from the daemon that serves it (docs/console.md).

The console sits below the server (docs/architecture.md): it reads everything through the
engine façade the daemon hands it, and what only the daemon knows or does (its export runners'
state, operating a job on a store connection of its own, replaying dead letters by its
applier, a reload) through this protocol,
which the server implements.
"""

from __future__ import annotations

from typing import Any, Protocol

from engine.engine import Engine
from engine.program import Config


class ConsoleHost(Protocol):
    """The daemon, as the console sees it."""

    @property
    def config(self) -> Config:
        """The running config (a reload swaps it)."""
        ...

    @property
    def engine(self) -> Engine:
        """A read-only engine of the console's own over the running config, used from the
        console's one worker thread only."""
        ...

    def export_status(self) -> dict[str, dict[str, Any]]:
        """Per export job, what its runner last reported (state, rate, last error, counts)."""
        ...

    async def operate(self, job: str, action: str) -> dict[str, Any]:
        """Pause, resume or replay an export job, or list its dead letters
        (``dead-letters``); `UnknownName` for a job the config lacks."""
        ...

    async def replay_dead_letters(self, stream: str | None) -> dict[str, Any]:
        """Apply the dead letters (of `stream`, or all) again with the running config, by the
        daemon's one applier: how many were replayed, failed again and were left
        (``replayed``, ``failed_again``, ``left``). `UnknownName` for a stream the config
        lacks, `RuntimeFailure` when it could not be done."""
        ...

    async def reload(self) -> str | None:
        """Load, test and swap in the config again, as SIGHUP does; why it failed, or None."""
        ...

    def redact(self, text: str) -> str:
        """`text` with every configured secret masked."""
        ...

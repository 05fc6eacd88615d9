"""The daemon as the web console's host (`engine.ui.ConsoleHost`, docs/console.md): its
read-only engine, its export runners' state, operating a job, replaying dead letters, and a
reload."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from engine.engine import Engine
from engine.program import Config
from engine.server.app import (
    JOB_ACTIONS,
    Daemon,
    job_dead_letters,
    on_job,
    replay_dead_letters,
)

LISTED = 100  # a job's dead letters the console shows


class DaemonConsole:
    """What the console asks of the running daemon."""

    def __init__(
        self,
        daemon: Daemon,
        reload: Callable[[], Awaitable[str | None]],
        redact: Callable[[str], str],
    ) -> None:
        self.daemon = daemon
        self._reload = reload
        self._redact = redact
        self._engine: Engine | None = None

    @property
    def config(self) -> Config:
        return self.daemon.config

    @property
    def engine(self) -> Engine:
        """A read-only engine of the console's own, opened on first use (on the console's
        thread), on the running config: the daemon's reader serves the HTTP API on the event
        loop, and a store connection serves one thread at a time."""
        config = self.daemon.config
        if self._engine is None:
            self._engine = Engine(config, read_only=True)
        elif self._engine.config is not config:
            self._engine.reconfigure(config)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()

    def export_status(self) -> dict[str, dict[str, Any]]:
        processing = self.daemon.processing
        return processing.report.exports if processing is not None else {}

    async def operate(self, job: str, action: str) -> dict[str, Any]:
        if action == "dead-letters":
            return await on_job(self.daemon, job, job_dead_letters(LISTED), changes=False)
        return await on_job(self.daemon, job, JOB_ACTIONS[action])

    async def replay_dead_letters(self, stream: str | None) -> dict[str, Any]:
        return await replay_dead_letters(self.daemon, stream)

    async def reload(self) -> str | None:
        return await self._reload()

    def redact(self, text: str) -> str:
        return self._redact(text)

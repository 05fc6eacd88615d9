"""The processor's retry loop: a store that keeps failing must not make it spin.

Found: after any commit had set the wake event, the failure branch waited on it without
clearing it, so it ran at 100% CPU, wrote ~10k log lines a second, and never stopped on
SIGTERM. The loop runs here in this process with a store that fails a set number of times.
"""

from __future__ import annotations

import logging
import multiprocessing
import sqlite3
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine import load_config
from engine.engine import Engine
from engine.pipeline.processor import Stats
from engine.server import processing
from tests.server.conftest import write_config


class _Wake:
    """A processor's sleeper that records how long each wait was asked to last and returns
    at once, as after a ring."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def wait(self, timeout: float, pending: Callable[[], bool] = lambda: False) -> None:
        self.waits.append(timeout)


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failures: int,
         caplog: pytest.LogCaptureFixture) -> tuple[_Wake, list[dict[str, object]], int]:
    config = load_config(write_config(tmp_path))
    parent, child = multiprocessing.Pipe()
    wake = _Wake()
    calls = 0
    clock = [1000.0]
    # The loop's own clock only: patching time.monotonic itself would freeze the pipe's
    # poll timeouts in this process too.
    monkeypatch.setattr(processing, "time", SimpleNamespace(
        monotonic=lambda: clock[0], perf_counter=time.perf_counter))
    with Engine(config) as engine:
        real_drain = engine.drain

        def drain(limit: int | None = None) -> Stats:
            nonlocal calls
            calls += 1
            clock[0] += 1.0  # one second per attempt on the loop's clock
            if calls <= failures:
                raise sqlite3.OperationalError("disk I/O error")
            if calls == failures + 1:
                parent.send(("stop", True))
            return real_drain(limit)

        monkeypatch.setattr(engine, "drain", drain)
        loop = processing._Processor(engine, child, wake, 500, "", {})  # type: ignore[arg-type]
        try:
            with caplog.at_level(logging.INFO, logger="engine.server"):
                reports = _reports_until_stopped(loop, parent)
        finally:
            loop.exporters.stop()
    return wake, reports, calls


def _reports_until_stopped(loop: processing._Processor,
                           parent: Connection) -> list[dict[str, object]]:
    """Run the loop in a thread and read its reports as the daemon does (a full pipe would
    block it)."""
    runner = threading.Thread(target=loop.run)
    runner.start()
    reports = []
    while runner.is_alive() or parent.poll():
        if parent.poll(0.05):
            reports.append(parent.recv())
    runner.join()
    return reports


def test_a_failing_store_is_retried_with_backoff_and_logged_once_a_while(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    wake, reports, calls = _run(tmp_path, monkeypatch, 150, caplog)
    # One attempt per wait, not a spin: 150 failures, the one that works, and the last
    # drain once the stop is read.
    assert calls == 152
    # Capped exponential backoff: 0.1 s doubling up to 30 s.
    assert wake.waits[:10] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0]
    assert set(wake.waits[9:150]) == {30.0}
    failed = [r for r in caplog.records
              if r.getMessage().startswith("applying the event log failed")]
    # 150 failures, one second apart on the loop's clock: logged once a minute, with counts.
    assert [getattr(r, "failures", None) for r in failed] == [1, 61, 121]
    assert any(r.getMessage() == "applying the event log works again" for r in caplog.records)
    retrying = [r["retrying"]["failures"] for r in reports if r.get("retrying")]
    assert retrying == list(range(1, 151))
    assert "disk I/O error" in reports[1]["retrying"]["reason"]
    assert reports[-1].get("retrying") is None


def test_stop_while_the_store_fails_returns_at_once(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    config = load_config(write_config(tmp_path))
    parent, child = multiprocessing.Pipe()
    wake = _Wake()
    with Engine(config) as engine:
        def drain(limit: int | None = None) -> Stats:
            parent.send(("stop", True))  # SIGTERM arrives while the store fails
            raise sqlite3.OperationalError("database is locked")

        monkeypatch.setattr(engine, "drain", drain)
        loop = processing._Processor(engine, child, wake, 500, "", {})  # type: ignore[arg-type]
        try:
            _reports_until_stopped(loop, parent)
        finally:
            loop.exporters.stop()
    assert len(wake.waits) <= 1

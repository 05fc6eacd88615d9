"""The processing loop's pace: a processor that caught up with a flow of small commits lets
the next slice gather; one with a backlog applies slice after slice; a request that waits for
its events to be applied cuts the gathering short."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine import load_config
from engine.engine import Engine
from engine.pipeline.processor import Stats
from engine.server import processing
from tests.server.conftest import write_config


class _Sleeper:
    """Records what the loop asked for between slices, and returns at once."""

    def __init__(self, calls: list[tuple[str, float]]) -> None:
        self.calls = calls

    def wait(self, timeout: float, pending: Callable[[], bool] = lambda: False) -> None:
        self.calls.append(("wait", timeout))

    def gather(self, timeout: float) -> None:
        self.calls.append(("gather", timeout))


def test_a_small_slice_is_reported_then_the_next_gathers_and_a_full_one_goes_on_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(write_config(tmp_path))
    parent, child = multiprocessing.Pipe()
    calls: list[tuple[str, float]] = []
    slices = iter([500, 120, 0, 3, 0])  # a backlog, caught up, idle, one more, stop
    # The loop's clock stands still: no report is due by time, only by what the loop does.
    monkeypatch.setattr(processing, "time", SimpleNamespace(
        monotonic=lambda: 1000.0, perf_counter=time.perf_counter))

    with Engine(config) as engine:
        def drain(limit: int | None = None) -> Stats:
            handled = next(slices)
            calls.append(("drain", handled))
            if handled == 3:
                parent.send(("stop", True))
            return Stats(events=handled)

        monkeypatch.setattr(engine, "drain", drain)
        loop = processing._Processor(engine, child, _Sleeper(calls),  # type: ignore[arg-type]
                                     500, "", {})
        try:
            runner = threading.Thread(target=loop.run)
            runner.start()
            reports = list(_reports(parent, runner))
        finally:
            loop.exporters.stop()

    assert calls == [("drain", 500), ("drain", 120), ("gather", processing.GATHER_S),
                     ("drain", 0), ("wait", processing.IDLE_WAIT_S), ("drain", 3),
                     # the stop came in during that slice: the wait ends at it (a command)
                     ("gather", processing.GATHER_S), ("drain", 0)]
    # The small slice was reported before the gathering wait: a request waiting for those
    # events to be applied is answered then, not after it.
    applied = [r["events"] for r in reports if r.get("events")]
    assert applied == [620, 3]


def _reports(parent: multiprocessing.connection.Connection,
             runner: threading.Thread) -> Iterator[dict[str, object]]:
    while runner.is_alive() or parent.poll():
        if parent.poll(0.05):
            yield parent.recv()
    runner.join()


def test_the_first_request_waiting_to_be_applied_hurries_the_processor() -> None:
    handle = processing.Processing("config.yaml", {})
    sent: list[tuple[object, ...]] = []
    handle._send = sent.append  # type: ignore[method-assign]
    handle.report.position = 10

    async def main() -> None:
        assert handle.applied(10).done()  # applied already: nothing to ask
        first, second = handle.applied(11), handle.applied(12)
        assert not first.done() and not second.done()
        handle._take({"position": 12, "profiles": 0, "failures": {}, "audiences": {}})
        assert first.done() and second.done()
        handle.applied(13)

    asyncio.run(main())
    assert sent == [("hurry",), ("hurry",)]  # once per wait that finds no other waiting


def test_gathering_ends_at_a_command_from_the_daemon() -> None:
    ctx = multiprocessing.get_context("spawn")
    bell = processing.Doorbell(ctx)
    parent, child = ctx.Pipe()
    sleeper = processing.Sleeper(bell.reader, bell.asleep, child)
    parent.send(("hurry",))
    sleeper.gather(3600)  # returns at the command, not after the hour
    assert child.recv() == ("hurry",)  # left for the loop to read
    assert not bell.asleep.value  # gathering is not sleeping: commits do not ring

"""A NATS server that goes away and comes back: calls fail fast meanwhile, readiness says so,
and the same transport works again once the server is back (docs/transport.md, "Failures")."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.config.model import TransportSpec
from engine.errors import TransportUnavailable
from engine.transport import open_transport
from tests.services import NatsServer, poll


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    s = NatsServer(tmp_path / "nats")
    s.start()
    yield s
    s.stop()


def test_a_stopped_server_fails_fast_and_the_transport_comes_back(server: NatsServer) -> None:
    t = open_transport(TransportSpec(backend="nats", url=server.url, stream="ENGINE"),
                       timeout=1.0, reconnect_wait=0.1)
    assert t is not None
    try:
        assert t.ready()
        assert t.publish("web", 1, [("a", 1, b"a")])[0].seq == 1
        server.stop()
        started = time.monotonic()
        with pytest.raises(TransportUnavailable):
            t.publish("web", 2, [("b", 2, b"b")])
        assert time.monotonic() - started < 5
        assert poll(lambda: not t.ready())
        started = time.monotonic()
        with pytest.raises(TransportUnavailable):  # refused at once while down
            t.fetch(10, timeout=1.0)
        assert time.monotonic() - started < 1

        server.start()
        assert poll(t.ready)
        # The publish that failed may still have been stored: nats-py re-sends what it had
        # buffered when the connection broke, once it is back. The retry then finds it as a
        # duplicate; either way the event is in the stream once (docs/transport.md, "Failures").
        [(seq, _duplicate)] = [tuple(r) for r in t.publish("web", 3, [("b", 2, b"b")])]
        assert seq == 2
        got = t.fetch(10, timeout=2.0)
        assert [d.body for d in got] == [b"a", b"b"]
        t.ack(got)
        assert t.info().backlog == 0
    finally:
        t.close()

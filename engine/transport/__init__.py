"""How events travel from the nodes that collect them to the nodes that apply them.

With ``transport.backend: nats`` the event log of record is a NATS JetStream stream
(`NatsLog`, asyncio; `NatsTransport`, the same for synchronous callers). With ``local`` there is
no transport: the collect path appends to the store's own log and the processor reads it, as a
single machine always has, so `open_transport` returns None and callers keep that path
(docs/transport.md).
"""

from __future__ import annotations

from typing import Any

from engine.config.model import TransportSpec
from engine.errors import RuntimeFailure
from engine.transport.base import Delivery, PublishResult, TransportInfo
from engine.transport.nats import CONSUMER, NatsLog, stream_of_token, subject_token
from engine.transport.sync import NatsTransport

__all__ = [
    "CONSUMER",
    "Delivery",
    "NatsLog",
    "NatsTransport",
    "PublishResult",
    "TransportInfo",
    "open_transport",
    "stream_of_token",
    "subject_token",
]


def open_transport(spec: TransportSpec, **options: Any) -> NatsTransport | None:
    """The synchronous transport `spec` names, connected, its stream and consumer ensured;
    None for ``local``, whose events go through the store's log instead. `options` are those
    of `NatsLog.connect`."""
    if spec.backend == "local":
        return None
    if spec.backend != "nats":
        raise RuntimeFailure(f"transport backend {spec.backend!r} is not available here")
    options.setdefault("ack_wait", spec.ack_wait_s)
    transport = NatsTransport(spec, **options)
    try:
        transport.ensure()
    except BaseException:
        transport.close()
        raise
    return transport

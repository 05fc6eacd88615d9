"""`OneWrite`: what is written in one turn of the event loop leaves in one send, in order."""

from __future__ import annotations

import asyncio
from typing import Any

from engine.server.connections import OneWrite


class Recorded(asyncio.Transport):
    """A transport that keeps what reaches it, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Any]] = []
        self.protocol: asyncio.BaseProtocol | None = None

    def write(self, data: Any) -> None:
        self.calls.append(("write", bytes(data)))

    def write_eof(self) -> None:
        self.calls.append(("eof", None))

    def close(self) -> None:
        self.calls.append(("close", None))

    def abort(self) -> None:
        self.calls.append(("abort", None))

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.calls.append(("protocol", protocol))

    def get_write_buffer_size(self) -> int:
        return 7

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 9)}.get(name, default)


async def _turn() -> None:
    """Let the callbacks of this turn of the loop run."""
    await asyncio.sleep(0)


def test_a_head_and_a_body_written_in_one_turn_leave_in_one_write() -> None:
    async def main() -> list[tuple[str, Any]]:
        inner = Recorded()
        outer = OneWrite(inner, asyncio.get_running_loop())
        outer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        outer.write(memoryview(b"{}"))
        assert inner.calls == []  # nothing leaves before the turn ends
        assert outer.get_write_buffer_size() == 7 + 40
        await _turn()
        outer.write(b"next")  # a later turn is a send of its own
        await _turn()
        return inner.calls

    assert asyncio.run(main()) == [
        ("write", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"),
        ("write", b"next"),
    ]


def test_close_eof_and_a_protocol_switch_send_what_is_held_first() -> None:
    async def main() -> list[tuple[str, Any]]:
        inner = Recorded()
        outer = OneWrite(inner, asyncio.get_running_loop())
        protocol = asyncio.Protocol()
        outer.writelines([b"a", b"b"])
        outer.set_protocol(protocol)
        outer.write(b"c")
        outer.write_eof()
        outer.write(b"d")
        outer.close()
        await _turn()  # the flushes scheduled for the turn find nothing left to send
        return inner.calls

    calls = asyncio.run(main())
    assert [name for name, _ in calls] == ["write", "protocol", "write", "eof", "write", "close"]
    assert [data for name, data in calls if name == "write"] == [b"ab", b"c", b"d"]


def test_abort_drops_what_is_held_and_the_rest_is_the_transport_s() -> None:
    async def main() -> Recorded:
        inner = Recorded()
        outer = OneWrite(inner, asyncio.get_running_loop())
        outer.write(b"lost")
        outer.abort()
        await _turn()
        assert outer.get_extra_info("peername") == ("127.0.0.1", 9)
        assert outer.get_write_buffer_size() == 7
        assert not outer.is_closing()
        return inner

    assert asyncio.run(main()).calls == [("abort", None)]

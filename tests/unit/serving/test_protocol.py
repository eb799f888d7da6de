"""``HeldWrite`` (serving.api.protocol): writes in order, two in a row as one, a lone one by
the end of the loop's pass, nothing held past a close or an end of file."""

from __future__ import annotations

import asyncio

from serving.api.protocol import HeldWrite


class Recording(asyncio.Transport):
    """A transport that keeps what is written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def write_eof(self) -> None:
        self.writes.append(b"<eof>")

    def get_write_buffer_size(self) -> int:
        return 7


def test_a_head_and_its_body_go_out_in_one_write() -> None:
    async def scenario() -> list[bytes]:
        inner = Recording()
        held = HeldWrite(inner, asyncio.get_running_loop())
        held.write(b"HTTP/1.1 200 OK\r\n\r\n")
        assert inner.writes == []  # held until the body or the end of the pass
        held.write(b"{}")
        assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
        await asyncio.sleep(0)
        return inner.writes

    assert asyncio.run(scenario()) == [b"HTTP/1.1 200 OK\r\n\r\n{}"]


def test_a_lone_write_goes_out_by_the_end_of_the_pass_and_order_holds() -> None:
    async def scenario() -> list[bytes]:
        inner = Recording()
        held = HeldWrite(inner, asyncio.get_running_loop())
        held.write(b"head")
        await asyncio.sleep(0)
        assert inner.writes == [b"head"]
        for chunk in (b"a", b"b", b"c"):  # a streamed body, chunk by chunk
            held.write(chunk)
        held.writelines([b"d", b"e"])
        held.write(b"f")
        held.write_eof()
        await asyncio.sleep(0)
        return inner.writes

    assert asyncio.run(scenario()) == [b"head", b"ab", b"cde", b"f", b"<eof>"]


def test_close_sends_what_is_held_first_and_abort_drops_it() -> None:
    async def scenario() -> tuple[Recording, Recording]:
        loop = asyncio.get_running_loop()
        closed, aborted = Recording(), Recording()
        first, second = HeldWrite(closed, loop), HeldWrite(aborted, loop)
        first.write(b"last words")
        first.close()
        second.write(b"never sent")
        second.abort()
        await asyncio.sleep(0)  # the end-of-pass flushes find nothing held
        return closed, aborted

    closed, aborted = asyncio.run(scenario())
    assert closed.writes == [b"last words"] and closed.closed
    assert aborted.writes == [] and aborted.aborted


def test_everything_else_is_the_wrapped_transports() -> None:
    async def scenario() -> int:
        return HeldWrite(Recording(), asyncio.get_running_loop()).get_write_buffer_size()

    assert asyncio.run(scenario()) == 7

"""uvicorn's HTTP protocol with a response's head and body sent in one write.

uvicorn writes the status line and headers when the app sends ``http.response.start``, and
the body in a second write when it sends ``http.response.body``: two ``send`` calls and two
TCP segments for every small JSON answer, each of which the kernel carries through the
loopback and the client wakes up for. py-spy put a fifth of a worker's CPU at lookup
saturation in those writes (issue 22).

:class:`OneWriteHttpProtocol` is uvicorn's ``httptools`` protocol with its transport
wrapped in :class:`HeldWrite`, which holds one write back until the next one (then sends
both together) or the end of the event loop's current pass, whichever comes first. A
response whose body follows its head at once goes out in one write; a streamed one still
goes out chunk by chunk, each chunk at most one loop pass late. Passed to uvicorn as its
``http`` option by :mod:`serving.api.workers`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeldWrite:
    """A transport whose writes are sent in order, each held back until the next write or
    the end of the loop's current pass; everything else is the wrapped transport's."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport, self._loop = transport, loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._held is None:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(self._held + data)
            self._held = None

    def writelines(self, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(chunks))

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def flush(self) -> None:
        """Send the held write, if any (the end of a pass, and before the transport closes)."""
        if self._held is not None:
            held, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through :class:`HeldWrite`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(HeldWrite(transport, self.loop))  # type: ignore[arg-type]

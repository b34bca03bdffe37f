"""P1 telegrams over TCP, like a P1-to-network bridge (ser2net, P1 dongles).

Every connected client receives the same byte stream. Whatever a client sends
is read and ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

from .profiles import Profile
from .source import TelegramSource
from .transmitter import Transmitter

_CLOSE_TIMEOUT = 2.0


class P1TcpServer(Transmitter):
    """Streams telegrams to every TCP client (faults: see :class:`Transmitter`)."""

    def __init__(
        self,
        source: TelegramSource | Profile | str = "nl_dsmr5_gas",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        interval: float | None = None,
        fault_seed: int = 0,
    ) -> None:
        """Serve ``source`` on ``host``:``port`` (port 0 picks a free port on start)."""
        super().__init__(source, interval=interval, fault_seed=fault_seed)
        self.host = host
        self.port = port
        """The port; the actual one once started."""
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._clients_changed = asyncio.Condition()

    @property
    def serving(self) -> bool:
        """Whether the server accepts connections now."""
        return self._server is not None

    @property
    def clients(self) -> int:
        """Number of connected clients."""
        return len(self._writers)

    async def start(self) -> None:
        """Listen and start sending telegrams every ``interval`` seconds."""
        await self.listen()
        self._start_ticker()

    async def stop(self) -> None:
        """Stop sending, drop all clients and stop listening.

        The port is kept, so :meth:`start` listens on the same port again.
        """
        await self._stop_ticker()
        await self.unlisten()

    async def listen(self) -> None:
        """Accept connections (on the same port as before after an :meth:`unlisten`)."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def unlisten(self) -> None:
        """Drop all clients and stop accepting connections; sending goes on."""
        server, self._server = self._server, None
        self.close_connections()
        if server is not None:
            server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), _CLOSE_TIMEOUT)

    def close_connections(self, *, abort: bool = False) -> None:
        """Drop all clients now: a clean close, or a TCP reset with ``abort``."""
        for writer in list(self._writers):
            if abort:
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    # Linger with a zero timeout: closing sends RST instead of FIN.
                    linger = struct.pack("ii", 1, 0)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                writer.transport.abort()
            else:
                writer.close()

    async def server_gone(self, seconds: float) -> asyncio.Task[None]:
        """Drop all clients and refuse connections for ``seconds``.

        Afterwards the server listens again on the same port.
        """
        await self.unlisten()

        async def come_back() -> None:
            await asyncio.sleep(seconds)
            await self.listen()

        return asyncio.create_task(come_back(), name="p1-tcp-come-back")

    async def wait_for_clients(self, count: int = 1, timeout: float = 2.0) -> None:
        """Wait until at least ``count`` clients are connected."""
        async with asyncio.timeout(timeout), self._clients_changed:
            await self._clients_changed.wait_for(lambda: len(self._writers) >= count)

    async def _notify(self) -> None:
        async with self._clients_changed:
            self._clients_changed.notify_all()

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._writers.add(writer)
        await self._notify()
        try:
            while await reader.read(4096):
                pass
        except OSError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            await self._notify()

    async def _transmit(self, data: bytes) -> int:
        """Write to every open connection; return how many took the bytes.

        Bytes handed to a connection arrive unless it is reset or the client
        closes it first: a clean close (FIN) still delivers them.
        """
        writers = [writer for writer in self._writers if not writer.is_closing()]
        for writer in writers:
            writer.write(data)
        for writer in writers:
            with contextlib.suppress(OSError):
                await writer.drain()
        return len(writers)

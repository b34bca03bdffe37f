"""A loopback TCP server that plays telegrams to whoever connects."""

from __future__ import annotations

import asyncio


class TelegramServer:
    """Serve bytes on 127.0.0.1 to every client, on demand."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.connections = 0
        self.disconnects = 0
        self.connected = asyncio.Event()
        self.on_connect: bytes = b""

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        self._writers.add(writer)
        if self.on_connect:
            writer.write(self.on_connect)
        self.connected.set()
        try:
            await reader.read()
        except OSError:
            pass
        finally:
            self._writers.discard(writer)
            self.disconnects += 1

    @property
    def clients(self) -> int:
        """Return the number of connected clients."""
        return len(self._writers)

    async def send(self, data: bytes) -> None:
        for writer in list(self._writers):
            writer.write(data)
            await writer.drain()

    async def wait_client(self, timeout: float = 5) -> None:
        async with asyncio.timeout(timeout):
            await self.connected.wait()

    def drop_clients(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        self.connected.clear()

    async def stop(self) -> None:
        self.drop_clients()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

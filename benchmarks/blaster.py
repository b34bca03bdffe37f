r"""A telegram blaster in its own process, so its CPU never counts.

Reads frames from a file of length-prefixed frames (4 bytes big-endian length,
then the frame: plain telegrams or encrypted DLMS frames), listens on a data
port and a control port, prints both ports, and obeys control lines:

- ``send N``: the next N frames, as fast as the sockets take them;
- ``rate R S``: frames at R per second for S seconds;
- ``clients``: the number of connected data clients;
- ``close``: close every data client.

Each command is answered with one line: ``done <frames sent> <seconds>``
(``clients`` answers with the count). Frames continue where the previous
command stopped and wrap around at the end of the file.
"""

from __future__ import annotations

import asyncio
import sys
import time


def read_frames(path: str) -> list[bytes]:
    """Return the frames of a length-prefixed stream file."""
    with open(path, "rb") as file:
        data = file.read()
    frames = []
    offset = 0
    while offset < len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        frames.append(data[offset + 4 : offset + 4 + size])
        offset += 4 + size
    return frames


def write_frames(path: str, frames: list[bytes]) -> None:
    """Write frames as a length-prefixed stream file."""
    with open(path, "wb") as file:
        for frame in frames:
            file.write(len(frame).to_bytes(4, "big") + frame)


class Blaster:
    """Sends frames to every connected data client."""

    def __init__(self, frames: list[bytes]) -> None:
        """Start at the first frame."""
        self.frames = frames
        self.position = 0
        self.clients: set[asyncio.StreamWriter] = set()

    def _next(self) -> bytes:
        frame = self.frames[self.position]
        self.position = (self.position + 1) % len(self.frames)
        return frame

    async def _write(self, count: int) -> None:
        clients = list(self.clients)
        for _ in range(count):
            frame = self._next()
            for client in clients:
                client.write(frame)
        for client in clients:
            try:
                await client.drain()
            except ConnectionError:
                self.clients.discard(client)

    async def send(self, count: int) -> int:
        """Send count frames as fast as possible (in batches of 16)."""
        sent = 0
        while sent < count:
            batch = min(16, count - sent)
            await self._write(batch)
            sent += batch
        return sent

    async def rate(self, rate: float, seconds: float) -> int:
        """Send frames at a fixed rate; fall behind if the readers do."""
        start = time.monotonic()
        total = int(rate * seconds)
        sent = 0
        while sent < total:
            due = min(total, int((time.monotonic() - start) * rate) + 1)
            if due > sent:
                await self._write(due - sent)
                sent = due
            wait = start + sent / rate - time.monotonic()
            await asyncio.sleep(max(wait, 0.0005))
        return sent

    async def on_data(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Keep a data client until it leaves."""
        self.clients.add(writer)
        try:
            await reader.read()
        except ConnectionError:
            pass
        finally:
            self.clients.discard(writer)

    async def on_control(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Obey control lines."""
        while line := await reader.readline():
            command, *args = line.split()
            start = time.monotonic()
            sent = 0
            if command == b"send":
                sent = await self.send(int(args[0]))
            elif command == b"rate":
                sent = await self.rate(float(args[0]), float(args[1]))
            elif command == b"clients":
                writer.write(f"{len(self.clients)}\n".encode())
                await writer.drain()
                continue
            elif command == b"close":
                for client in list(self.clients):
                    client.close()
                self.clients.clear()
            writer.write(f"done {sent} {time.monotonic() - start:.6f}\n".encode())
            await writer.drain()


async def main(path: str) -> None:
    """Serve until stdin closes."""
    blaster = Blaster(read_frames(path))
    data_server = await asyncio.start_server(blaster.on_data, "127.0.0.1", 0)
    control_server = await asyncio.start_server(blaster.on_control, "127.0.0.1", 0)
    print(
        data_server.sockets[0].getsockname()[1],
        control_server.sockets[0].getsockname()[1],
        flush=True,
    )
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))

r"""A telegram blaster in its own process, so its CPU never counts.

Listens on a data port and a control port. A line "N\\n" on the control port
streams N telegrams (cycling through the given file's frames) to every data
client as fast as the socket takes them, then answers "done\\n".
"""

from __future__ import annotations

import asyncio
import sys


async def main(path: str) -> None:
    """Serve until stdin closes."""
    with open(path, "rb") as file:  # noqa: ASYNC230
        data = file.read()
    frames = [f for f in data.split(b"\x00") if f]
    clients: set[asyncio.StreamWriter] = set()

    async def on_data(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        clients.add(writer)
        try:
            await reader.read()
        finally:
            clients.discard(writer)

    async def on_control(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while line := await reader.readline():
            count = int(line)
            for index in range(count):
                frame = frames[index % len(frames)]
                for client in list(clients):
                    client.write(frame)
                    await client.drain()
            writer.write(b"done\n")
            await writer.drain()

    data_server = await asyncio.start_server(on_data, "127.0.0.1", 0)
    control_server = await asyncio.start_server(on_control, "127.0.0.1", 0)
    print(
        data_server.sockets[0].getsockname()[1],
        control_server.sockets[0].getsockname()[1],
        flush=True,
    )
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))

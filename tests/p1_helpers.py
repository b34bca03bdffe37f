"""Telegrams, encrypted frames and a pty P1 cable for the detection and flow tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from contextlib import contextmanager, suppress
import os
import socket
import struct
import termios
import tty
from typing import Any
from unittest.mock import patch

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
import serialx

from .helpers import FIXTURES, SHARED_TELEGRAMS
from .server import TelegramServer

V5 = (SHARED_TELEGRAMS / "v5_plain_iskra_mt382.txt").read_bytes()
V4_2 = (SHARED_TELEGRAMS / "v4_2_kaifa.txt").read_bytes()
V2_2 = (SHARED_TELEGRAMS / "v2_2_iskra_mt382.txt").read_bytes()
FLUVIUS = (SHARED_TELEGRAMS / "fluvius_v171_gas_water.txt").read_bytes()
SWEDEN = (SHARED_TELEGRAMS / "sweden_kamstrup_kam5.txt").read_bytes()
Q3D = (SHARED_TELEGRAMS / "q3d_easymeter_esy5q3db1024_com1.txt").read_bytes()
LUX_BAD_CRC = (SHARED_TELEGRAMS / "luxembourg_spec_example.txt").read_bytes()
LUX = (FIXTURES / "luxembourg_spec_example_crc_fixed.txt").read_bytes()

V5_ID = "K8EG004046395507"
V5_HEADER = "ISk5\\2MT382-1000"
LUX_ID = "SAG1030790002574"

KEY = "0F1E2D3C4B5A69788796A5B4C3D2E1F0"
AUTH_KEY = "00112233445566778899AABBCCDDEEFF"
WRONG_KEY = "000102030405060708090A0B0C0D0E0F"
SYSTEM_TITLE = b"SAGy\x00\xbc\x61\x4e"


def crc16_arc(data: bytes) -> int:
    """CRC16/ARC, bit by bit (independent of the integration's table)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(telegram: bytes) -> bytes:
    """Return the telegram with a freshly computed checksum after its '!'."""
    body = telegram[: telegram.rindex(b"!") + 1]
    return body + b"%04X\r\n" % crc16_arc(body)


def _hex_id(ident: str) -> bytes:
    return ident.encode().hex().upper().encode()


def v5_meter(ident: str) -> bytes:
    """The DSMR 5 fixture as sent by a meter with another equipment id."""
    return with_crc(V5.replace(_hex_id(V5_ID), _hex_id(ident)))


def lux_meter(ident: str) -> bytes:
    """The Luxembourg fixture as sent by a meter with another equipment id."""
    return with_crc(LUX.replace(_hex_id(LUX_ID), _hex_id(ident)))


def encrypt(
    plain: bytes,
    key: str = KEY,
    auth_key: str = AUTH_KEY,
    *,
    counter: int = 1,
    system_title: bytes = SYSTEM_TITLE,
) -> bytes:
    """Wrap a telegram in a DLMS general-global-cipher frame (AES-128-GCM)."""
    invocation = counter.to_bytes(4, "big")
    sealed = AESGCM(bytes.fromhex(key)).encrypt(
        system_title + invocation, plain, b"\x30" + bytes.fromhex(auth_key)
    )
    content = b"\x30" + invocation + sealed[:-4]  # 12-byte tag
    return (
        b"\xdb\x08" + system_title + b"\x82" + len(content).to_bytes(2, "big") + content
    )


def encrypted_stream(plain: bytes, key: str = KEY, frames: int = 3) -> bytes:
    """Successive encrypted frames, more than 4 kB in all for three Lux telegrams."""
    return b"".join(encrypt(plain, key, counter=n) for n in range(1, frames + 1))


def closed_port() -> int:
    """Return a loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reset_clients(server: TelegramServer) -> None:
    """Abort every client connection with a TCP reset."""
    for writer in list(server._writers):
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
    server._writers.clear()


class PtyCable:
    """A pseudo-terminal standing in for a P1 cable with a meter behind it.

    The meter answers every opening of the port with the next entry of
    `replies` (then with `default`), written right after the port was opened
    and flushed, as a meter that sends one telegram shortly after.
    """

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no CR/LF translation
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.replies: list[bytes] = []
        self.default = b""
        self.opens: list[tuple[int, int, str]] = []

    def prepare(self) -> None:
        """Move the line to a speed no specification uses before each opening.

        A Linux pty keeps 8 data bits whatever is asked; with some C libraries
        asking for 7E1 again at the speed the line already has then fails with
        EINVAL. A real cable has no such quirk, so every opening starts fresh.
        """
        attrs = termios.tcgetattr(self.slave)
        attrs[4] = attrs[5] = termios.B38400
        termios.tcsetattr(self.slave, termios.TCSANOW, attrs)

    def opened(self, kwargs: dict[str, Any]) -> None:
        self.opens.append((kwargs["baudrate"], kwargs["byte_size"], kwargs["parity"]))
        payload = self.replies.pop(0) if self.replies else self.default
        written = 0
        while written < len(payload):
            written += os.write(self.master, payload[written:])

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with suppress(OSError):
                os.close(fd)


@contextmanager
def pty_cables() -> Generator[Callable[[], PtyCable]]:
    """Yield a factory of pty cables; their openings go through real serialx."""
    cables: dict[str, PtyCable] = {}
    real_open = serialx.open_serial_connection

    def cable_at(url: str) -> PtyCable | None:
        return cables.get(os.path.realpath(url.partition("://")[2] or url))

    async def open_and_answer(*args: Any, **kwargs: Any) -> Any:
        cable = cable_at(kwargs["url"])
        if cable is not None:
            cable.prepare()
        stream = await real_open(*args, **kwargs)
        if cable is not None:
            cable.opened(kwargs)
        return stream

    def make() -> PtyCable:
        cable = PtyCable()
        cables[cable.path] = cable
        return cable

    with patch.object(serialx, "open_serial_connection", open_and_answer):
        try:
            yield make
        finally:
            for cable in cables.values():
                cable.close()


class _TakenReader(asyncio.StreamReader):
    """A stream reader that tells when the listener has taken its bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.taken = asyncio.Event()

    async def read(self, n: int = -1) -> bytes:
        data = await super().read(n)
        self.taken.set()
        return data


class FedLine:
    """An endpoint whose bytes the test hands over piece by piece.

    `feed` waits until the listener has taken the piece, so every piece is
    one read, as on a slow serial line.
    """

    serial_port = "/dev/fed-line"

    def __init__(self) -> None:
        self.reader = _TakenReader()
        self.closed = False

    async def open(self, settings: Any) -> tuple[asyncio.StreamReader, FedLine]:
        return self.reader, self

    def close(self) -> None:
        self.closed = True

    async def wait_closed(self) -> None:
        assert self.closed

    async def feed(self, data: bytes) -> None:
        self.reader.taken.clear()
        self.reader.feed_data(data)
        async with asyncio.timeout(2):
            await self.reader.taken.wait()

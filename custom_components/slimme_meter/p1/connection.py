"""Open the byte stream of a P1 port: a serial device or a network bridge."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import serialx

from ..const import CONF_HOST, CONF_PORT, CONF_SERIAL_PORT
from .specs import SerialSettings

CONNECT_TIMEOUT = 10.0


class Closable(Protocol):
    """The writing half of a stream; only closed here."""

    def close(self) -> None:
        """Close the stream."""

    async def wait_closed(self) -> None:
        """Wait until the stream is closed (a serial port is then unlocked)."""


async def close(writer: Closable) -> None:
    """Close a stream and wait until it is closed.

    serialx releases a port in the background: without the wait, the next
    connection attempt (or the entry set up next) finds the port still locked.
    """
    writer.close()
    with suppress(OSError):
        await writer.wait_closed()


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the telegrams come from."""

    serial_port: str | None = None
    host: str | None = None
    port: int | None = None

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Endpoint:
        """Return the endpoint stored in a config entry's data."""
        if port := data.get(CONF_SERIAL_PORT):
            return cls(serial_port=port)
        return cls(host=data[CONF_HOST], port=int(data[CONF_PORT]))

    def __str__(self) -> str:
        """Return the endpoint as shown to users."""
        if self.serial_port:
            return self.serial_port
        return f"{self.host}:{self.port}"

    async def open(
        self, settings: SerialSettings
    ) -> tuple[asyncio.StreamReader, Closable]:
        """Open the stream; raise OSError (or TimeoutError) when it cannot."""
        async with asyncio.timeout(CONNECT_TIMEOUT):
            if self.serial_port:
                try:
                    return await serialx.open_serial_connection(
                        url=self.serial_port,
                        baudrate=settings.baudrate,
                        byte_size=settings.byte_size,
                        parity=settings.parity,
                        stopbits=1,
                    )
                except serialx.SerialException as err:
                    raise OSError(str(err)) from err
            return await asyncio.open_connection(self.host, self.port)


def parse_network_address(text: str, default_port: int | None = None) -> Endpoint:
    """Parse "host:port", "socket://host:port" or a bare host into an Endpoint."""
    text = text.strip()
    url = urlsplit(text if "://" in text else f"socket://{text}")
    if url.scheme not in ("socket", "tcp") or not url.hostname:
        raise ValueError(f"not a network address: {text}")
    port = url.port or default_port
    if port is None:
        raise ValueError(f"no port in {text}")
    return Endpoint(host=url.hostname, port=port)

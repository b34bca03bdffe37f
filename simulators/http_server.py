"""What the consent-API simulators share: an aiohttp server and its faults.

:class:`HttpSimulator` listens on ``host``:``port`` (port 0 picks a free one,
:attr:`~HttpSimulator.port` is the actual one once started) with the
application :meth:`~HttpSimulator.create_app` returns, and keeps the faults a
test queued for the next requests: each request's handler takes the next one
with :meth:`~HttpSimulator.take_fault`. It is an async context manager, which
is how the command lines serve until stopped::

    async with simulator:
        print(f"listening on {simulator.url}")
        await until_stopped()
"""

from __future__ import annotations

from types import TracebackType
from typing import ClassVar, Self

from aiohttp import web
from aiohttp.log import access_logger

SHUTDOWN_TIMEOUT = 1.0
"""Seconds the open connections get to finish when the server stops."""


class HttpSimulator[FaultT]:
    """A simulated service on ``host``:``port`` with a queue of faults."""

    handler_cancellation: ClassVar[bool] = False
    """Whether a handler is cancelled when its client goes away."""
    access_log: ClassVar[bool] = False
    """Whether aiohttp logs every request (logger ``aiohttp.access``)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host``:``port`` once started."""
        self.host = host
        self.port = port
        """The port; the actual one once started."""
        self._faults: list[FaultT] = []
        self._runner: web.AppRunner | None = None

    def create_app(self) -> web.Application:
        """Return the application that answers the requests."""
        raise NotImplementedError

    @property
    def url(self) -> str:
        """The base address (once started)."""
        return f"http://{self.host}:{self.port}"

    # --------------------------------------------------------------- faults

    def queue_fault(self, fault: FaultT, count: int = 1) -> None:
        """Let ``fault`` answer the next ``count`` requests (after those queued)."""
        self._faults.extend([fault] * count)

    def take_fault(self) -> FaultT | None:
        """Return the fault for the request at hand, if one is queued."""
        return self._faults.pop(0) if self._faults else None

    def clear_faults(self) -> None:
        """Drop the faults still queued: the service works again."""
        self._faults.clear()

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on ``host``:``port`` (port 0 picks a free one)."""
        if self._runner is not None:
            return
        runner = web.AppRunner(
            self.create_app(),
            handler_cancellation=self.handler_cancellation,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
            access_log=access_logger if self.access_log else None,
        )
        await runner.setup()
        await web.TCPSite(runner, self.host, self.port).start()
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening and close all connections."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        """Start; the block runs while the service listens."""
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop, however the block ended."""
        await self.stop()

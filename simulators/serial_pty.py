"""P1 telegrams on a pseudo-terminal, standing in for a USB P1 cable.

The simulator owns the pty's master side and writes telegrams to it; a reader
opens the slave side like a serial port. :attr:`P1PtySimulator.path` is a
symlink in a private temporary directory that always points at the current
slave device, so :meth:`P1PtySimulator.unplug` followed by
:meth:`P1PtySimulator.plug` (a cable pulled out and put back) gives a new
device behind the same path. While unplugged, readers of the old device get an
I/O error and telegrams go nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import tty

from .profiles import Profile
from .source import TelegramSource
from .transmitter import Transmitter


class P1PtySimulator(Transmitter):
    """Streams telegrams to a pty; see :class:`Transmitter` for the faults."""

    def __init__(
        self,
        source: TelegramSource | Profile | str = "nl_dsmr5_gas",
        *,
        interval: float | None = None,
        directory: str | None = None,
        link_name: str = "ttyP1",
        fault_seed: int = 0,
    ) -> None:
        """Prepare the stable path ``<directory>/<link_name>``.

        ``directory`` defaults to a new temporary directory.
        """
        super().__init__(source, interval=interval, fault_seed=fault_seed)
        self._own_directory = directory is None
        self.directory = (
            directory if directory is not None else tempfile.mkdtemp(prefix="p1sim-")
        )
        self.path = os.path.join(self.directory, link_name)
        """Stable path of the serial device (a symlink to the current pty)."""
        self.device: str | None = None
        """The current pty slave device, None while unplugged."""
        self._master: int | None = None
        self._slave: int | None = None

    @property
    def plugged(self) -> bool:
        """Whether the device exists now."""
        return self._master is not None

    async def start(self) -> None:
        """Plug in and start sending telegrams every ``interval`` seconds."""
        self.plug()
        self._start_ticker()

    async def stop(self) -> None:
        """Stop sending, unplug and remove the temporary directory (if it is ours)."""
        await self._stop_ticker()
        self.unplug()
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def plug(self) -> None:
        """Create a new pty and point :attr:`path` at it."""
        if self._master is not None:
            return
        os.makedirs(self.directory, exist_ok=True)
        master, slave = os.openpty()
        # Raw mode: no echo, no CR/LF translation; the bytes arrive as sent.
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.device = os.ttyname(slave)
        temporary = f"{self.path}.new"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        os.symlink(self.device, temporary)
        os.replace(temporary, self.path)

    def unplug(self) -> None:
        """Remove the device: readers get an I/O error, :attr:`path` disappears."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        self.device = None

    def close_connections(self) -> None:
        """Hang up: unplug and plug in again at once (readers must reopen the path)."""
        self.unplug()
        self.plug()

    async def server_gone(self, seconds: float) -> asyncio.Task[None]:
        """Unplug now and plug in again after ``seconds``."""
        self.unplug()

        async def come_back() -> None:
            await asyncio.sleep(seconds)
            self.plug()

        return asyncio.create_task(come_back(), name="p1-pty-come-back")

    async def _transmit(self, data: bytes) -> int:
        """Write to the master side; what does not fit is lost, as on a real line.

        Returns 1 when all of ``data`` went into the device, else 0. Whether a
        reader has the device open is not known here: the pty keeps the bytes
        until one reads them (or flushes them when it opens the port).
        """
        master = self._master
        if master is None:
            return 0
        view = memoryview(data)
        while view:
            try:
                written = os.write(master, view)
            except OSError:
                return 0
            view = view[written:]
        return 1

"""What every P1 stream simulator shares: timing, fault switches, bookkeeping.

A :class:`Transmitter` sends one telegram every ``interval`` seconds (and on
:meth:`Transmitter.send_now`) through whatever its subclass connects to. The
fault switches change what goes out:

``crc_errors(n)``
    The next ``n`` telegrams carry a wrong CRC. Profiles without a CRC
    (DSMR 2.2) get a changed digit in the first energy register instead.
``garbage(n_bytes)``
    ``n_bytes`` random bytes (at least one non-ASCII) go out just before the
    next telegram. They never contain ``/``, ``!`` or 0xDB, so a reader can
    resynchronise on the telegram that follows.
``half_telegram()``
    The next telegram is cut off halfway; the one after it is whole.
``non_ascii()``
    The next telegram has the 8th bit set on one byte inside a value (as with
    a wrong serial setting); its CRC is computed over the altered bytes.
``stall(True)``
    Nothing is sent until ``stall(False)``; connections stay open.
``meter_swap()``
    The electricity meter is replaced: new equipment identifier, registers
    restart near zero.

Telegram faults queue up in the order they were asked for and each consumes
one telegram; garbage is added to the next telegram that is sent.

Bookkeeping: :attr:`Transmitter.sent` counts every telegram that went out,
:attr:`Transmitter.delivered` only those handed whole to at least one
connected reader (:attr:`Transmitter.valid_delivered` and
:attr:`Transmitter.delivered_faults` split them by fault), so a test can
compare what a reader accepted with what actually reached it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
from collections import Counter, deque
import contextlib
import enum
import logging
import random

from .meter import SimulatedMeter
from .profiles import Profile
from .source import TelegramSource

_LOGGER = logging.getLogger(__name__)

_GARBAGE_EXCLUDED = frozenset({ord("/"), ord("!"), 0xDB})
_GARBAGE_BYTES = bytes(b for b in range(256) if b not in _GARBAGE_EXCLUDED)
_GARBAGE_HIGH = bytes(b for b in _GARBAGE_BYTES if b >= 0x80)


class TelegramFault(enum.Enum):
    """A fault applied to one telegram."""

    WRONG_CRC = "wrong_crc"
    HALF = "half"
    NON_ASCII = "non_ascii"


class Transmitter(ABC):
    """Base class of the P1 simulators: a telegram source, a clock tick and faults."""

    def __init__(
        self,
        source: TelegramSource | Profile | str = "nl_dsmr5_gas",
        *,
        interval: float | None = None,
        fault_seed: int = 0,
    ) -> None:
        """Stream ``source`` (a profile name means a fresh meter on the wall clock).

        ``interval`` defaults to the profile's (1 s for DSMR 5 meters, else 10 s).
        ``fault_seed`` makes the garbage bytes reproducible.
        """
        self.source = (
            source if isinstance(source, TelegramSource) else TelegramSource(source)
        )
        self.interval = (
            interval if interval is not None else self.source.profile.interval
        )
        self.sent = 0
        """Telegrams sent so far, faulty ones included."""
        self.valid_sent = 0
        """Telegrams sent so far without any fault."""
        self.last_valid_telegram: bytes | None = None
        """The bytes of the last telegram sent without a fault."""
        self.last_fault: TelegramFault | None = None
        """The fault of the last telegram sent (None: it was valid)."""
        self.last_reached = 0
        """How many connected readers the last transmission reached whole."""
        self.delivered = 0
        """Telegrams handed whole to at least one connected reader."""
        self.valid_delivered = 0
        """Delivered telegrams without any fault."""
        self.delivered_faults: Counter[TelegramFault] = Counter()
        """Delivered faulty telegrams, by fault."""
        self._faults: deque[TelegramFault] = deque()
        self._garbage = bytearray()
        self._stalled = False
        self._rng = random.Random(fault_seed)
        self._ticker: asyncio.Task[None] | None = None

    @property
    def meter(self) -> SimulatedMeter:
        """The simulated meter behind the stream."""
        return self.source.meter

    @property
    def profile(self) -> Profile:
        """The profile of the stream."""
        return self.source.profile

    @property
    def stalled(self) -> bool:
        """Whether sending is paused."""
        return self._stalled

    @property
    def pending_faults(self) -> tuple[TelegramFault, ...]:
        """Telegram faults that still wait for a telegram."""
        return tuple(self._faults)

    # ------------------------------------------------------------ fault switches

    def crc_errors(self, n: int = 1) -> None:
        """Give the next ``n`` telegrams a wrong CRC."""
        self._faults.extend([TelegramFault.WRONG_CRC] * n)

    def garbage(self, n_bytes: int) -> None:
        """Send ``n_bytes`` random bytes (some non-ASCII) before the next telegram."""
        if n_bytes <= 0:
            return
        noise = bytes([self._rng.choice(_GARBAGE_HIGH)])
        noise += bytes(self._rng.choice(_GARBAGE_BYTES) for _ in range(n_bytes - 1))
        self._garbage += noise

    def half_telegram(self) -> None:
        """Cut the next telegram off halfway."""
        self._faults.append(TelegramFault.HALF)

    def non_ascii(self) -> None:
        """Put a non-ASCII byte into the next telegram (with a matching CRC)."""
        self._faults.append(TelegramFault.NON_ASCII)

    def stall(self, on: bool = True) -> None:
        """Stop sending (``True``) or resume (``False``); connections stay open."""
        self._stalled = on

    def meter_swap(self) -> None:
        """Replace the meter: new equipment identifier, registers near zero."""
        self.meter.swap()

    # ----------------------------------------------------------------- sending

    def next_chunk(self) -> bytes:
        """Build the bytes of the next transmission, faults applied.

        Returns ``b""`` while stalled (nothing is consumed then).
        """
        if self._stalled:
            return b""
        fault = self._faults.popleft() if self._faults else None
        telegram = self.source.telegram(
            wrong_crc=fault is TelegramFault.WRONG_CRC,
            non_ascii=fault is TelegramFault.NON_ASCII,
        )
        if fault is TelegramFault.HALF:
            telegram = telegram[: len(telegram) // 2]
        self.sent += 1
        self.last_fault = fault
        if fault is None:
            self.valid_sent += 1
            self.last_valid_telegram = telegram
        data = bytes(self._garbage) + telegram
        self._garbage.clear()
        return data

    async def send_now(self) -> bytes:
        """Send one telegram now (faults applied) and return the bytes sent.

        :attr:`last_reached` tells how many connected readers got it whole.
        """
        data = self.next_chunk()
        self.last_reached = 0
        if data:
            self.last_reached = reached = await self._transmit(data)
            if reached:
                self.delivered += 1
                if self.last_fault is None:
                    self.valid_delivered += 1
                else:
                    self.delivered_faults[self.last_fault] += 1
        return data

    def _start_ticker(self) -> None:
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(
                self._tick_loop(), name=f"p1-{self.profile.name}-ticker"
            )

    async def _stop_ticker(self) -> None:
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self.interval
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            due = max(due + self.interval, loop.time())
            try:
                await self.send_now()
            except Exception:
                _LOGGER.exception("sending a telegram failed")

    # ------------------------------------------------------------- transports

    @abstractmethod
    async def start(self) -> None:
        """Open the transport and start sending every ``interval`` seconds."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop sending and close the transport."""

    @abstractmethod
    def close_connections(self) -> None:
        """Drop every reader now (they have to reconnect)."""

    @abstractmethod
    async def server_gone(self, seconds: float) -> asyncio.Task[None]:
        """Make the stream unreachable now and reachable again after ``seconds``.

        Returns the task that brings it back; await it to know it is back.
        """

    @abstractmethod
    async def _transmit(self, data: bytes) -> int:
        """Write ``data`` to every reader; return how many got all of it."""

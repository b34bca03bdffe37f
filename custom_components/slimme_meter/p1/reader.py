"""Read telegrams from a P1 port for as long as it runs.

Connects, frames and decodes, and reconnects with exponential backoff when the
port closes, fails or stalls (no valid telegram for a few meter intervals).
It reports what happens through three callbacks and keeps no other state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from enum import StrEnum
import logging

from .connection import Closable, Endpoint, close
from .decode import Decoder, IncompleteTelegram, Snapshot, TelegramError
from .framing import EncryptedFramer, PlainFramer

_LOGGER = logging.getLogger(__name__)

type Stream = tuple[asyncio.StreamReader, Closable]


class LinkState(StrEnum):
    """State of the local path."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    STALLED = "stalled"


class DecoderFault(TelegramError):
    """Decoding a frame failed in a way no telegram should make it fail."""

    reason = "decoder_fault"


class P1Reader:
    """Reconnecting telegram reader for one P1 port."""

    def __init__(
        self,
        endpoint: Endpoint,
        decoder: Decoder,
        *,
        on_snapshot: Callable[[Snapshot], None],
        on_state: Callable[[LinkState, str | None], None],
        on_reject: Callable[[TelegramError], None],
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        stall_factor: float = 3.0,
        min_stall_timeout: float = 1.0,
    ) -> None:
        """Set up the reader; call run() to start it."""
        self.endpoint = endpoint
        self.decoder = decoder
        self._on_snapshot = on_snapshot
        self._on_state = on_state
        self._on_reject = on_reject
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._stall_factor = stall_factor
        self._min_stall = min_stall_timeout
        self.delay = backoff_initial
        self.interval = decoder.spec.interval
        self._last_valid: float | None = None
        self._connected = False
        self._consumer_failed = False
        self._decoder_failed = False

    async def run(self, stream: Stream | None = None) -> None:
        """Read until cancelled; start with an already opened stream if given."""
        while True:
            if stream is None:
                self._on_state(LinkState.CONNECTING, None)
                try:
                    stream = await self.endpoint.open(self.decoder.spec.serial)
                except (OSError, TimeoutError) as err:
                    await self._backoff(LinkState.DISCONNECTED, str(err) or "timeout")
                    continue
            try:
                state, reason = await self._read(stream[0])
            finally:
                writer, stream = stream[1], None
                await close(writer)
            await self._backoff(state, reason)

    async def _backoff(self, state: LinkState, reason: str) -> None:
        self._connected = False
        self._last_valid = None
        self._on_state(state, reason)
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, self._backoff_max)

    def stall_timeout(self) -> float:
        """Return how long to wait for a valid telegram before reconnecting."""
        return max(self._stall_factor * self.interval, self._min_stall)

    async def _read(self, reader: asyncio.StreamReader) -> tuple[LinkState, str]:
        framer = EncryptedFramer() if self.decoder.spec.encrypted else PlainFramer()
        loop = asyncio.get_running_loop()
        incomplete = 0
        try:
            async with asyncio.timeout(self.stall_timeout()) as watchdog:
                while data := await reader.read(65536):
                    for frame in framer.feed(data, loop.time()):
                        if self._handle(frame, loop.time()):
                            watchdog.reschedule(loop.time() + self.stall_timeout())
                    while incomplete < framer.incomplete:
                        incomplete += 1
                        self._on_reject(IncompleteTelegram("telegram cut off"))
        except TimeoutError:
            return LinkState.STALLED, "no valid telegram received"
        except OSError as err:
            return LinkState.DISCONNECTED, str(err) or type(err).__name__
        return LinkState.DISCONNECTED, "connection closed"

    def _handle(self, frame: bytes, now: float) -> bool:
        try:
            snapshot = self.decoder.decode(frame)
        except TelegramError as err:
            self._on_reject(err)
            return False
        except Exception as err:
            # A telegram no decoder should fail on: count it, keep reading.
            if not self._decoder_failed:
                self._decoder_failed = True
                _LOGGER.exception("Error while decoding a telegram")
            self._on_reject(DecoderFault(f"{type(err).__name__}: {err}"))
            return False
        if self._last_valid is not None:
            # Follow the meter's own pace (1 s or 10 s, or a bridge's batching).
            self.interval += (now - self._last_valid - self.interval) * 0.2
        self._last_valid = now
        self.delay = self._backoff_initial
        if not self._connected:
            self._connected = True
            self._on_state(LinkState.CONNECTED, None)
        try:
            self._on_snapshot(snapshot)
        except Exception:
            # A fault in what consumes the values must not stop the reading.
            if not self._consumer_failed:
                self._consumer_failed = True
                _LOGGER.exception("Error while handling a telegram")
        return True

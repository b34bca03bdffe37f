"""Cut a byte stream from the P1 port into frames, one per telegram."""

from __future__ import annotations

from dsmr_parser.clients.telegram_buffer import EncryptedTelegramBuffer

_HEX = frozenset(b"0123456789ABCDEFabcdef")
MAX_FRAME = 16384
# Silence before a '/' after which what came before is a whole telegram, for
# meters that end a telegram with neither '!' nor a CRC (DSMR 2.2). A meter
# sends a telegram in one burst; a bridge may pause for a moment inside one.
QUIET_GAP = 0.5


class PlainFramer:
    """Find '/' ... '!CRC' frames; drop bytes before a start and cut-off frames.

    A telegram ends at '!' and its CRC digits, or, where a meter sends no
    '!', at the next '/' that follows a quiet gap.
    """

    def __init__(self) -> None:
        """Start with an empty buffer."""
        self._buffer = bytearray()
        self._last = float("-inf")
        self.incomplete = 0  # frames cut off by a new start, or oversized

    def feed(self, data: bytes, now: float = 0.0) -> list[bytes]:
        """Add bytes received at time `now` (seconds); return the frames they end."""
        buffer = self._buffer
        fresh = len(buffer)  # where the bytes after a quiet gap begin, if any
        if now - self._last < QUIET_GAP:
            fresh = -1
        self._last = now
        buffer += data
        frames: list[bytes] = []
        while True:
            start = buffer.find(b"/")
            if start < 0:
                buffer.clear()
                return frames
            if start:
                del buffer[:start]
                fresh -= start
            bang = buffer.find(b"!")
            restart = buffer.find(b"/", 1, None if bang < 0 else bang)
            if restart > 0:
                if fresh > 0 and restart >= fresh and not buffer[fresh:restart].strip():
                    # The meter fell silent, then began anew: a whole telegram.
                    frames.append(bytes(buffer[:restart]))
                else:
                    # A new telegram began before this one ended: it was cut off.
                    self.incomplete += 1
                del buffer[:restart]
                fresh -= restart
                continue
            if bang < 0:
                if len(buffer) > MAX_FRAME:
                    buffer.clear()
                    self.incomplete += 1
                return frames
            end = bang + 1
            size = len(buffer)
            while end < size and end - bang <= 4 and buffer[end] in _HEX:
                end += 1
            if end == size and end - bang <= 4:
                return frames  # the checksum or its line end has not arrived
            frames.append(bytes(buffer[:end]))
            del buffer[:end]
            fresh -= end

    def flush(self, now: float) -> bytes | None:
        """Return a started telegram without '!' once the line went quiet."""
        buffer = self._buffer
        if buffer[:1] != b"/" or b"!" in buffer or now - self._last < QUIET_GAP:
            return None
        frame = bytes(buffer)
        buffer.clear()
        return frame


class EncryptedFramer:
    """Frame DLMS general-global-cipher frames (length-prefixed, binary)."""

    incomplete = 0

    def __init__(self) -> None:
        """Start with dsmr_parser's frame buffer."""
        self._buffer = EncryptedTelegramBuffer()

    def feed(self, data: bytes, now: float = 0.0) -> list[bytes]:
        """Add received bytes; return the frames they complete."""
        self._buffer.append(data)
        return [bytes.fromhex(frame) for frame in self._buffer.get_all()]

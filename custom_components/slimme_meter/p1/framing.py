"""Cut a byte stream from the P1 port into frames, one per telegram."""

from __future__ import annotations

from dsmr_parser.clients.telegram_buffer import EncryptedTelegramBuffer

_HEX = frozenset(b"0123456789ABCDEFabcdef")
MAX_FRAME = 16384


class PlainFramer:
    """Find '/' ... '!CRC' frames; drop bytes before a start and cut-off frames."""

    def __init__(self) -> None:
        """Start with an empty buffer."""
        self._buffer = bytearray()
        self.incomplete = 0  # frames cut off by a new start, or oversized

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the frames they complete."""
        buffer = self._buffer
        buffer += data
        frames: list[bytes] = []
        while True:
            start = buffer.find(b"/")
            if start < 0:
                buffer.clear()
                return frames
            if start:
                del buffer[:start]
            bang = buffer.find(b"!")
            restart = buffer.find(b"/", 1, None if bang < 0 else bang)
            if restart > 0:
                # A new telegram began before this one ended: it was cut off.
                del buffer[:restart]
                self.incomplete += 1
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


class EncryptedFramer:
    """Frame DLMS general-global-cipher frames (length-prefixed, binary)."""

    incomplete = 0

    def __init__(self) -> None:
        """Start with dsmr_parser's frame buffer."""
        self._buffer = EncryptedTelegramBuffer()

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the frames they complete."""
        self._buffer.append(data)
        return [bytes.fromhex(frame) for frame in self._buffer.get_all()]

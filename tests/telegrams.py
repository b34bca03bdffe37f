"""Build test telegrams from the sample ones."""

from __future__ import annotations

from custom_components.slimme_meter.p1.decode import crc16


def edit(telegram: bytes, *replacements: tuple[bytes, bytes]) -> bytes:
    """Return a telegram with lines replaced and its checksum recomputed."""
    bang = telegram.rindex(b"!")
    body = telegram[: bang + 1]
    for old, new in replacements:
        assert old in body, old
        body = body.replace(old, new)
    return body + b"%04X\r\n" % crc16(body)

"""Find a meter's line settings and telegram specification, or check a choice.

Used by the config flow only: listen until a telegram arrives that passes its
checksum, then pick the specification that understands the most of its lines.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import logging

from .connection import Endpoint, close
from .decode import Decoder, DecryptionError, Snapshot, TelegramError
from .framing import EncryptedFramer, PlainFramer
from .specs import (
    DETECT_SERIAL_SETTINGS,
    ENCRYPTED_SPECS,
    PLAIN_SPECS,
    SPECS,
    SerialSettings,
    Spec,
)

_LOGGER = logging.getLogger(__name__)

# Tie-break between specifications that understand a telegram equally well.
_PREFERENCE = (
    "5",
    "4",
    "belgium_5b",
    "luxembourg_5l",
    "sweden_5s",
    "eon_hungary",
    "iskra_ie",
    "dsmr_2_2",
    "q3d",
    "3",
)
# Bytes without one valid telegram after which line settings are clearly wrong.
_WRONG_SETTINGS_BYTES = 4096


class DetectError(Exception):
    """Detection failed; `reason` is the config flow error key."""

    def __init__(self, reason: str) -> None:
        """Store the error key."""
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Detected:
    """What a listening attempt found."""

    spec: Spec
    serial: SerialSettings
    snapshot: Snapshot


def classify(frame: bytes) -> tuple[Spec, Snapshot] | None:
    """Return the plain specification that best reads a frame, if any.

    The one whose own patterns read the most lines wins; lines read by their
    OBIS code alone count only between specifications that read as many.
    """
    best: tuple[tuple[int, int, int], Spec, Snapshot] | None = None
    bang = frame.rfind(b"!")
    has_crc = bang >= 0 and len(frame) - bang > 1
    for spec in PLAIN_SPECS:
        if spec.checksum and not has_crc:
            continue
        try:
            snapshot = Decoder(spec).decode(frame)
        except TelegramError:
            continue
        readings = sum(3 for device in snapshot.mbus if device.reading is not None)
        score = len(snapshot.objects) + readings
        if score <= snapshot.generic:
            continue  # nothing read by the specification's own patterns
        rank = -_PREFERENCE.index(spec.id)
        version = str(snapshot.version or "")
        if spec.id == "4" and version.startswith("4"):
            rank += 100
        key = (score - snapshot.generic, score, rank)
        if best is None or key > best[0]:
            best = (key, spec, snapshot)
    return (best[1], best[2]) if best else None


class _NeedsKey(DecryptionError):
    reason = "needs_key"


def _decrypting_spec(
    frame: bytes, key: str, auth_key: str | None
) -> tuple[Spec, Snapshot]:
    last: TelegramError = DecryptionError("no key")
    for spec in ENCRYPTED_SPECS:
        try:
            snapshot = Decoder(spec, key, auth_key).decode(frame)
        except TelegramError as err:
            last = err
            continue
        if snapshot.objects.get("42.0.0") is not None or spec.id != "luxembourg_msn":
            return spec, snapshot
    raise last


async def listen(
    endpoint: Endpoint,
    serial: SerialSettings,
    timeout: float,
    *,
    spec: Spec | None = None,
    key: str | None = None,
    auth_key: str | None = None,
) -> Detected:
    """Listen for one valid telegram; classify it unless a spec is given."""
    try:
        reader, writer = await endpoint.open(serial)
    except (OSError, TimeoutError) as err:
        _LOGGER.debug("Cannot open %s: %s", endpoint, err)
        raise DetectError("cannot_connect") from err
    loop = asyncio.get_running_loop()
    received = 0
    last_error: TelegramError | None = None
    framers: list[PlainFramer | EncryptedFramer]
    if spec is None:
        framers = [PlainFramer(), EncryptedFramer()]
    else:
        framers = [EncryptedFramer() if spec.encrypted else PlainFramer()]
    try:
        async with asyncio.timeout(timeout):
            while data := await reader.read(4096):
                received += len(data)
                for framer in framers:
                    for frame in framer.feed(data, loop.time()):
                        try:
                            return _identify(frame, serial, spec, key, auth_key)
                        except _NeedsKey as err:
                            raise DetectError("needs_key") from err
                        except TelegramError as err:
                            # A frame that fails to decrypt outranks the garbage
                            # the plain framer cuts out of ciphertext.
                            if not isinstance(last_error, DecryptionError):
                                last_error = err
                if last_error is not None and received > _WRONG_SETTINGS_BYTES:
                    break
    except TimeoutError:
        # A meter that ends its telegrams with nothing (DSMR 2.2) may have
        # sent one whole telegram in this window: take it if the line is quiet.
        plain = framers[0]
        if isinstance(plain, PlainFramer) and (whole := plain.flush(loop.time())):
            try:
                return _identify(whole, serial, spec, key, auth_key)
            except TelegramError as err:
                last_error = last_error or err
    except OSError as err:
        raise DetectError("cannot_connect") from err
    finally:
        await close(writer)
    if isinstance(last_error, DecryptionError):
        raise DetectError("decryption_failed")
    if received == 0:
        raise DetectError("no_telegram")
    raise DetectError("invalid_telegrams")


def _identify(
    frame: bytes,
    serial: SerialSettings,
    spec: Spec | None,
    key: str | None,
    auth_key: str | None,
) -> Detected:
    if spec is not None:
        return Detected(spec, serial, Decoder(spec, key, auth_key).decode(frame))
    if frame[:1] != b"/":
        if not key:
            raise _NeedsKey
        found, snapshot = _decrypting_spec(frame, key, auth_key)
        return Detected(found, serial, snapshot)
    result = classify(frame)
    if result is None:
        raise TelegramError("no specification reads this telegram")
    return Detected(result[0], serial, result[1])


async def detect(
    endpoint: Endpoint,
    timeout: float,
    *,
    spec_id: str | None = None,
    key: str | None = None,
    auth_key: str | None = None,
) -> Detected:
    """Find the line settings (serial ports) and specification of a meter."""
    spec = SPECS[spec_id] if spec_id else None
    if endpoint.serial_port is None:
        settings: tuple[SerialSettings, ...] = (
            spec.serial if spec else DETECT_SERIAL_SETTINGS[0],
        )
    elif spec is not None:
        settings = (spec.serial,)
    else:
        settings = DETECT_SERIAL_SETTINGS
    error = DetectError("no_telegram")
    for serial in settings:
        try:
            return await listen(
                endpoint,
                serial,
                timeout / len(settings),
                spec=spec,
                key=key,
                auth_key=auth_key,
            )
        except DetectError as err:
            if err.reason in ("cannot_connect", "decryption_failed", "needs_key"):
                raise
            if err.reason == "invalid_telegrams" or error.reason == "no_telegram":
                error = err
    raise error

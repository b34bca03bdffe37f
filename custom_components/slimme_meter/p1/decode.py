"""Turn one framed telegram into an immutable Snapshot of its values.

Lines are parsed by dsmr_parser's value parsers for the chosen specification,
but each distinct line is parsed only once: most lines of a telegram (ids,
counters, the failure log) repeat from one telegram to the next, so the
previous telegram's parsed lines are reused. Values are keyed by their OBIS
code ("1.8.1"), so every line a specification carries reaches the snapshot
whatever name dsmr_parser gives it.
"""

from __future__ import annotations

from array import array
from binascii import unhexlify
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
import operator
import re
import sys
from typing import Any

from dlms_cosem.connection import XDlmsApduFactory
from dlms_cosem.exceptions import DecryptionError as DlmsDecryptionError
from dsmr_parser.exceptions import ParseError
from dsmr_parser.parsers import ProfileGenericParser, _decrypt_without_verification
from dsmr_parser.profile_generic_specifications import PG_HEAD_PARSERS
from dsmr_parser.value_types import timestamp

from .specs import Spec


class TelegramError(Exception):
    """A frame that is not a usable telegram."""

    reason = "malformed"


class ChecksumError(TelegramError):
    """The CRC does not match the telegram's contents."""

    reason = "checksum"


class IncompleteTelegram(TelegramError):
    """A telegram was cut off before its end."""

    reason = "incomplete"


class DecryptionError(TelegramError):
    """An encrypted frame could not be decrypted with the configured keys."""

    reason = "decryption"


@cache
def _crc_table(poly: int) -> tuple[int, ...]:
    """Return the byte table of a reflected CRC-16 with this polynomial."""
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


@cache
def _crc_word_table(poly: int) -> array[int]:
    """Return the table that advances the CRC by two bytes at once (128 KB)."""
    table = _crc_table(poly)
    return array(
        "H",
        (
            (step >> 8) ^ table[step & 0xFF]
            for word in range(65536)
            for step in ((word >> 8) ^ table[word & 0xFF],)
        ),
    )


def _crc16(data: bytes, poly: int, init: int) -> int:
    # Two bytes per step: the 16-bit register is replaced as a whole, so one
    # lookup of (register XOR little-endian word) advances it by two bytes.
    table = _crc_word_table(poly)
    even = len(data) & ~1
    words = array("H")
    words.frombytes(data[:even])
    if sys.byteorder == "big":  # pragma: no cover - the words are little-endian
        words.byteswap()
    crc = init
    for word in words:
        crc = table[crc ^ word]
    if even != len(data):
        crc = (crc >> 8) ^ _crc_table(poly)[(crc ^ data[-1]) & 0xFF]
    return crc


def crc16(data: bytes) -> int:
    """Return the CRC-16/ARC of data, as the P1 telegram checksum uses it."""
    return _crc16(data, 0xA001, 0)


def crc16_x25(data: bytes) -> int:
    """Return the CRC-16/X.25 of data, which some meters (Holley) send instead."""
    return _crc16(data, 0x8408, 0xFFFF) ^ 0xFFFF


# The checksums meters send, by name; the first is the P1 standard's.
CHECKSUMS: dict[str, Callable[[bytes], int]] = {
    "crc16_arc": crc16,
    "crc16_x25": crc16_x25,
}


def decode_text(value: Any) -> str | None:
    """Return hex-encoded printable text decoded (ids, messages), else as is."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        return str(value)
    if len(value) % 2 == 0:
        try:
            text = unhexlify(value).decode("ascii")
        except ValueError:
            return value
        if text.isprintable():
            return text
    return value


# M-Bus device types (EN 13757-3) -> the kind of meter.
MBUS_KINDS: Mapping[int, str] = {
    3: "gas",
    4: "heat",
    12: "heat",
    13: "heat",
    10: "cold",
    11: "cold",
    6: "water",
    7: "water",
    21: "water",
    22: "water",
}


@dataclass(frozen=True, slots=True)
class MBusDevice:
    """One device on an M-Bus channel: gas, water, heat or cold meter."""

    channel: int
    device_type: int | None
    equipment_id: str | None
    reading: Decimal | None
    unit: str | None
    measured_at: datetime | None
    valve: str | None = None

    @property
    def kind(self) -> str | None:
        """Return gas, water, heat or cold, from the device type."""
        if self.device_type is None:
            # DSMR 2.2 and some meters leave the type out; m³ there is gas.
            return "gas" if self.unit == "m3" else None
        return MBUS_KINDS.get(self.device_type)


# Units as the P1 standard spells them; meters also write them in lower case.
_UNIT_SPELLING: Mapping[str, str] = {
    unit.lower(): unit
    for unit in (
        "kWh",
        "Wh",
        "MWh",
        "GJ",
        "kW",
        "W",
        "MW",
        "V",
        "A",
        "m3",
        "varh",
        "var",
        "kvarh",
        "kvar",
        "kVA",
        "VA",
        "Hz",
        "s",
    )
}
UNITS = frozenset(_UNIT_SPELLING.values()) | {"kVArh", "kVAr"}
_GROUP_RE = re.compile(r"\(([^()]*)\)")
_STAMP_RE = re.compile(r"\d{12}[SW]?")
_NUMBER_RE = re.compile(r"\s*([-+]?\d+(?:\.\d*)?)\s*\*?\s*([A-Za-z][A-Za-z0-9]*)?\s*")


_Time = datetime  # the fields below are named datetime, like dsmr_parser's


@dataclass(frozen=True, slots=True)
class Reading:
    """A line read by its OBIS code alone: `(value*unit)`, `(time)(value*unit)`."""

    value: Any
    unit: str | None = None
    datetime: _Time | None = None


@dataclass(frozen=True, slots=True)
class Peak:
    """One month of a maximum demand history (0-0:98.1.0)."""

    datetime: _Time | None
    occurred: _Time | None
    value: Decimal | None
    unit: str | None


def _spelled(unit: str | None) -> str | None:
    return None if unit is None else _UNIT_SPELLING.get(unit.lower(), unit)


def _group(text: str) -> tuple[Any, str | None, bool]:
    """Return value, unit and whether the group is a timestamp."""
    if _STAMP_RE.fullmatch(text):
        return timestamp(text), None, True
    number = _NUMBER_RE.fullmatch(text)
    if number is not None and (
        number[2].lower() in _UNIT_SPELLING if number[2] else "." in number[1]
    ):
        return Decimal(number[1]), _spelled(number[2]), False
    return text or None, None, False


def read_generic(code: str, line: str) -> Reading | list[Peak] | None:
    """Read a line by the generic grammar of its OBIS code's value groups."""
    groups = _GROUP_RE.findall(line)
    if not groups:
        return None
    if code == "98.1.0":
        # (count)(id)(id) then (month)(time)(value*unit) per month
        peaks = []
        for start in range(3, len(groups) - 2, 3):
            month, occurred, demand = (_group(g) for g in groups[start : start + 3])
            at = occurred[0] if occurred[2] else None
            # A month without a peak has no valid time (632525252525W).
            peak = demand[0] if at and isinstance(demand[0], Decimal) else None
            peaks.append(Peak(month[0] if month[2] else None, at, peak, demand[1]))
        return peaks
    value: Any = None
    unit: str | None = None
    when: datetime | None = None
    for text in groups:
        parsed, parsed_unit, stamp = _group(text)
        if stamp and value is None and when is None:
            when = parsed
        elif value is None:  # (limit*A)(other*A): the first value is the line's
            value, unit = parsed, parsed_unit
    if value is None and when is not None:
        return Reading(when)
    return Reading(value, unit, when)


def _unit_of(obj: Any) -> str | None:
    try:
        unit: str | None = obj.unit
    except (AttributeError, IndexError, KeyError, TypeError):
        return None
    return unit


_TOTALS = {1: "1.8.0", 2: "2.8.0"}
_TARIFFS = {d: tuple(f"{d}.8.{t}" for t in (1, 2, 3, 4)) for d in (1, 2)}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """All values of one valid telegram."""

    spec: str
    header: str
    objects: Mapping[str, Any]
    mbus: tuple[MBusDevice, ...] = ()
    raw: str = field(default="", repr=False)
    equipment_id: str | None = None
    """The electricity meter's equipment identifier."""
    generic: int = 0
    """Lines the specification does not describe, read by OBIS code instead."""
    lenient: int = 0
    """Lines with bytes outside ASCII, read without them or dropped."""
    dropped: int = 0
    """Lines dropped for bytes outside ASCII inside their values."""

    def value(self, code: str) -> Any:
        """Return the value of the line with this OBIS code, if present."""
        obj = self.objects.get(code)
        return None if obj is None else obj.value

    def unit(self, code: str) -> str | None:
        """Return the unit the meter gave for this OBIS code, if any."""
        obj = self.objects.get(code)
        unit: str | None = None if obj is None else obj.unit
        return unit

    def total(self, direction: int) -> Decimal | None:
        """Return import (1) or export (2) energy: x.8.0, or its tariffs' sum."""
        objects = self.objects
        total = objects.get(_TOTALS[direction])
        if total is not None:
            return total.value  # type: ignore[no-any-return]
        if self.dropped:
            return None  # a tariff line may be missing: no sum that is too low
        values = [
            obj.value for code in _TARIFFS[direction] if (obj := objects.get(code))
        ]
        return sum(values, Decimal(0)) if values else None

    @property
    def version(self) -> str | None:
        """Return the P1 version the meter reports (0.2.8 or 96.1.4)."""
        version: str | None = self.value("0.2.8") or self.value("96.1.4")
        return version

    def mbus_device(self, channel: int) -> MBusDevice | None:
        """Return the device on an M-Bus channel."""
        for device in self.mbus:
            if device.channel == channel:
                return device
        return None


# Bytes outside ASCII that carry no value: padding (E.ON Hungary, Holley).
_PADDING = dict.fromkeys(range(0x80, 0x100)) | {0: None}


def lenient_text(data: bytes) -> tuple[str, int, int]:
    """Return a telegram's text with its bytes outside ASCII dealt with.

    The header line keeps its ASCII characters; ``m`` followed by 0xB3 is
    ``m3``; a value group of nothing but 0xFF (or NUL) padding is empty. Any
    other line with such a byte is dropped: a damaged digit would make a wrong
    value. Returns the text, the lines with such bytes, and how many of those
    were dropped.
    """
    lines = data.decode("latin-1").split("\n")
    lenient = dropped = 0
    for index, line in enumerate(lines):
        if line.isascii():
            continue
        lenient += 1
        if index == 0:
            lines[0] = line.translate(_PADDING)
            continue
        kept = _PADDED_GROUP.sub("()", line.replace("m\xb3", "m3"))
        if not kept.isascii():
            dropped += 1
            kept = ""
        lines[index] = kept
    return "\n".join(lines), lenient, dropped


_PADDED_GROUP = re.compile(r"\([\xff\x00]+\)")
# Distinct OBIS ids whose parser is kept (a meter sends some 20 to 60).
MAX_PARSERS = 256
_ID_RE = re.compile(r"^(\d+)-(\d+):([0-9.]+)")
_ID_CODES = ("96.1.1", "42.0.0", "96.1.255", "0.0.0", "96.1.0")


def _equipment_id(objects: Mapping[str, Any]) -> str | None:
    for code in _ID_CODES:
        obj = objects.get(code)
        value = None if obj is None else obj.value
        if isinstance(value, str) and (ident := decode_text(value)):
            return ident
    return None


def _same(first: tuple[Any, ...], second: tuple[Any, ...]) -> bool:
    """Return whether two tuples hold the very same objects."""
    return len(first) == len(second) and all(map(operator.is_, first, second))


_NOTHING: Any = object()


def per_line[T](code: str) -> Callable[[Callable[[Any], T]], Callable[[Snapshot], T]]:
    """Compute from the parsed object of one line, once while the line repeats.

    The decoder reuses a line's parsed object for as long as the meter sends
    the same line, so an unchanged object means an unchanged result.
    """

    def wrap(function: Callable[[Any], T]) -> Callable[[Snapshot], T]:
        last: list[Any] = [_NOTHING, None]

        def compute(snapshot: Snapshot) -> T:
            obj = snapshot.objects.get(code)
            if obj is not last[0]:
                last[0], last[1] = obj, function(obj)
            result: T = last[1]
            return result

        return compute

    return wrap


class Decoder:
    """Decode frames of one specification; remembers the previous telegram."""

    def __init__(
        self,
        spec: Spec,
        encryption_key: str | None = None,
        authentication_key: str | None = None,
    ) -> None:
        """Prepare the parsers of a specification."""
        self.spec = spec
        self._patterns = [
            (re.compile(obj["obis_reference"], re.DOTALL), obj["value_parser"])
            for obj in spec.definition["objects"]
        ]
        self._enc_key = unhexlify(encryption_key) if encryption_key else b""
        auth = authentication_key or spec.definition.get("authentication_key")
        self._auth_key = unhexlify(auth) if auth and authentication_key else None
        self._parsers: dict[str, Any] = {}
        self._lines: dict[str, tuple[str, int, str, Any, bool] | None] = {}
        self.checksum = "crc16_arc"
        self._checksum_known = False
        # The previous telegram's equipment id and M-Bus devices, with the
        # parsed lines they came from: reused while those lines repeat.
        self._ident: tuple[tuple[Any, ...], str | None] = ((), None)
        self._devices: dict[int, tuple[tuple[Any, ...], MBusDevice | None]] = {}

    def decode(self, frame: bytes) -> Snapshot:
        """Decode one frame (a plain telegram or an encrypted frame)."""
        if self.spec.encrypted:
            frame = self._decrypt(frame)
        if frame[:1] != b"/":
            raise TelegramError("telegram has no start")
        end = frame.rfind(b"!")
        if end < 0:
            if self.spec.checksum:
                raise IncompleteTelegram("telegram has no end")
            # DSMR 2.2 meters may end a telegram with nothing at all.
            end = len(frame.rstrip())
        elif (given := frame[end + 1 : end + 5].rstrip()) or self.spec.checksum:
            # A checksum is verified whenever the meter sends one.
            self._verify(frame[: end + 1], given)
        if frame.isascii():
            return self._parse(frame[:end].decode("ascii"))
        return self._parse_lenient(frame[:end])

    def _verify(self, data: bytes, given: bytes) -> None:
        """Check the CRC; learn from the first telegram which CRC the meter uses."""
        try:
            expected = int(given, 16)
        except ValueError:
            raise ChecksumError("telegram has no checksum") from None
        if CHECKSUMS[self.checksum](data) == expected:
            self._checksum_known = True
            return
        if not self._checksum_known:
            for name, crc in CHECKSUMS.items():
                if name != self.checksum and crc(data) == expected:
                    self.checksum = name
                    self._checksum_known = True
                    return
        raise ChecksumError(f"checksum {given.decode()} does not match")

    def _parse_lenient(self, data: bytes) -> Snapshot:
        """Parse a telegram holding bytes outside ASCII (see lenient_text)."""
        text, lenient, dropped = lenient_text(data)
        return replace(self._parse(text), lenient=lenient, dropped=dropped)

    def _decrypt(self, frame: bytes) -> bytes:
        try:
            apdu = XDlmsApduFactory.apdu_from_bytes(apdu_bytes=frame)
            if self._auth_key is None:
                plain: bytes = _decrypt_without_verification(apdu, self._enc_key)
            else:
                plain = apdu.to_plain_apdu(self._enc_key, self._auth_key)
        except (DlmsDecryptionError, ValueError, KeyError, IndexError) as err:
            raise DecryptionError(f"cannot decrypt frame: {err}") from err
        if plain[:1] != b"/":
            raise DecryptionError("decrypted frame is not a telegram: wrong key?")
        return plain

    def _parse(self, text: str) -> Snapshot:
        lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
        header = lines[0][1:].strip()
        previous = self._lines
        current: dict[str, tuple[str, int, str, Any, bool] | None] = {}
        objects: dict[str, Any] = {}
        channels: dict[int, dict[str, Any]] = {}
        generic = 0
        logical = ""
        for line in (*lines[1:], ""):
            # A line starting with "(" continues the previous one (DSMR 2.2 gas).
            if line.startswith("("):
                logical = f"{logical}\r\n{line}"
                continue
            if logical:
                if logical in previous:
                    parsed = previous[logical]
                else:
                    parsed = self._parse_line(logical.strip())
                current[logical] = parsed
                if parsed is not None:
                    code, channel, _, obj, by_code = parsed
                    generic += by_code
                    if channel:
                        channels.setdefault(channel, {})[code] = obj
                    else:
                        objects[code] = obj
            logical = line
        if not objects and not channels:
            # Noise between a '/' and a '!' is not a telegram.
            raise TelegramError("telegram holds no known values")
        self._lines = current
        ident_lines = tuple(objects.get(code) for code in _ID_CODES)
        if not _same(ident_lines, self._ident[0]):
            self._ident = (ident_lines, _equipment_id(objects))
        devices: dict[int, tuple[tuple[Any, ...], MBusDevice | None]] = {}
        for channel, values in sorted(channels.items()):
            lines_of = tuple(values.values())
            known = self._devices.get(channel)
            if known is None or not _same(lines_of, known[0]):
                known = (lines_of, _mbus_device(channel, values))
            devices[channel] = known
        self._devices = devices
        return Snapshot(
            spec=self.spec.id,
            header=header,
            objects=objects,
            mbus=tuple(device for _, device in devices.values() if device is not None),
            raw=text,
            equipment_id=self._ident[1],
            generic=generic,
        )

    def _parse_line(self, line: str) -> tuple[str, int, str, Any, bool] | None:
        match = _ID_RE.match(line)
        if match is None:
            return None
        obis_id = line[: line.find("(")] if "(" in line else line
        medium, channel = int(match[1]), int(match[2])
        mbus_channel = channel if medium == 0 and channel else 0
        parsers = self._parsers
        if obis_id in parsers:
            parser = parsers[obis_id]
        else:
            if len(parsers) >= MAX_PARSERS:
                # Line noise on a specification without a CRC has random ids.
                parsers.clear()
            parser = parsers[obis_id] = self._find_parser(line)
        obj = None if parser is None else _parse_by(parser, line)
        if obj is None:
            # The specification does not know this line, or the meter writes
            # it its own way: read it by its OBIS code rather than lose it.
            try:
                obj = read_generic(match[3], line)
            except ArithmeticError:
                return None
            if obj is None:
                return None
        return match[3], mbus_channel, obis_id, obj, parser is None

    def _find_parser(self, line: str) -> Any:
        probe = line + "\r\n"
        for pattern, parser in self._patterns:
            if pattern.match(probe):
                return parser
        return None


def _parse_by(parser: Any, line: str) -> Any:
    """Return the line parsed by a specification's parser, or None."""
    if isinstance(parser, ProfileGenericParser):
        # dsmr_parser's instance grows a list on every parse; use a fresh one.
        parser = ProfileGenericParser(
            parser.buffer_types, PG_HEAD_PARSERS, parser.parsers_for_unidentified
        )
    try:
        obj = parser.parse(line + "\r\n")
    except (ParseError, ValueError, ArithmeticError, IndexError, TypeError):
        return None
    unit = _unit_of(obj)
    if unit is not None and unit not in UNITS:
        return None  # a unit in lower case: read by the generic grammar
    return obj


def _mbus_device(channel: int, values: Mapping[str, Any]) -> MBusDevice | None:
    """Build an M-Bus device, or None for an empty channel."""
    ident_obj = values.get("96.1.0") or values.get("96.1.1")
    ident = decode_text(ident_obj.value) if ident_obj is not None else None
    reading = values.get("24.2.1") or values.get("24.2.3") or values.get("24.3.0")
    measured_at = reading.datetime if reading is not None else None
    if not ident and measured_at is None:
        return None
    type_obj = values.get("24.1.0")
    try:
        device_type = int(type_obj.value) if type_obj is not None else None
    except (TypeError, ValueError):
        device_type = None
    valve = values.get("24.4.0")
    return MBusDevice(
        channel=channel,
        device_type=device_type,
        equipment_id=ident,
        reading=reading.value if reading is not None else None,
        unit=reading.unit if reading is not None else None,
        measured_at=measured_at,
        valve=valve.value if valve is not None else None,
    )


@per_line("99.97.0")
def last_failure(log: Any) -> tuple[datetime, int] | None:
    """Return the start and duration (s) of the latest long power failure."""
    if log is None:
        return None
    entries = [
        (entry.datetime, entry.value)
        for entry in log.buffer
        if isinstance(entry.datetime, datetime) and isinstance(entry.value, int)
    ]
    if not entries:
        return None
    end, duration = max(entries, key=lambda entry: entry[0])
    return end - timedelta(seconds=duration), duration

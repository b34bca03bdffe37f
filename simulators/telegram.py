"""Render P1 telegrams from a meter's state.

A telegram is ASCII text with CRLF line endings, from the identification line
starting with ``/`` to the ``!`` that closes it, followed (DSMR 4 and later) by
a CRC16/ARC over everything from ``/`` to ``!`` inclusive as four uppercase hex
digits and a final CRLF. Each profile has one renderer that produces the lines
of its telegram; the line layouts follow real meters of that kind.

Use :func:`render_telegram` to get the bytes for a meter (or a snapshot)::

    meter = get_profile("nl_dsmr5_gas").create_meter(seed=1, start=start)
    meter.advance(when)
    data = render_telegram("nl_dsmr5_gas", meter)

For ``lu_encrypted`` this is the plaintext telegram; ``simulators.dlms``
encrypts it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from zoneinfo import ZoneInfo

from .meter import MBusReading, MeterSnapshot, SimulatedMeter
from .profiles import Profile, get_profile

Renderer = Callable[[MeterSnapshot], list[str]]
"""Produces a telegram's lines, from the identification line up to ``!`` (excluded)."""


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """CRC16/ARC (polynomial 0xA001 reflected, initial value 0) of ``data``."""
    crc = 0
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


# ------------------------------------------------------------------ formatting


def fixed(value: Decimal, integers: int, decimals: int) -> str:
    """Zero-padded fixed-point text, truncated like a meter does: ``000123.456``."""
    quantum = Decimal(1).scaleb(-decimals)
    truncated = value.quantize(quantum, rounding=ROUND_DOWN)
    width = integers + decimals + (1 if decimals else 0)
    return f"{truncated:0{width}.{decimals}f}"


def timestamp(moment: datetime, tz: ZoneInfo, *, season: bool = True) -> str:
    """Format ``YYMMDDhhmmss`` in local time plus ``S`` (summer) or ``W`` (winter)."""
    local = moment.astimezone(tz)
    text = local.strftime("%y%m%d%H%M%S")
    if not season:
        return text
    return text + ("S" if local.dst() else "W")


def hex_text(text: str) -> str:
    """Text as uppercase hex of its ASCII bytes (how P1 carries identifiers)."""
    return text.encode("ascii").hex().upper()


def digits(text: str, count: int) -> str:
    """Return the last ``count`` digits of ``text`` (zero-padded)."""
    only = "".join(ch for ch in text if ch.isdigit())
    return only[-count:].rjust(count, "0")


def _kw(value: Decimal) -> str:
    return f"{fixed(value, 2, 3)}*kW"


def _kwh(value: Decimal) -> str:
    return f"{fixed(value, 6, 3)}*kWh"


def _phase_lines(s: MeterSnapshot, code: int, text: Callable[[int], str]) -> list[str]:
    """One line per phase for OBIS ``1-0:<code + 20 * phase>.7.0``."""
    return [f"1-0:{code + 20 * p}.7.0({text(p)})" for p in range(len(s.phases))]


def _phase_power_lines(s: MeterSnapshot) -> list[str]:
    return [
        *_phase_lines(s, 21, lambda p: _kw(s.phases[p].power_import_kw)),
        *_phase_lines(s, 22, lambda p: _kw(s.phases[p].power_export_kw)),
    ]


def _event_lines(s: MeterSnapshot) -> list[str]:
    """Voltage sag and swell counters per phase."""
    return [
        *[
            f"1-0:{32 + 20 * p}.32.0({s.voltage_sags[p]:05d})"
            for p in range(len(s.phases))
        ],
        *[
            f"1-0:{32 + 20 * p}.36.0({s.voltage_swells[p]:05d})"
            for p in range(len(s.phases))
        ],
    ]


def _failure_lines(s: MeterSnapshot) -> list[str]:
    log = "".join(
        f"({timestamp(e.end, s.tz)})({e.duration_s:010d}*s)"
        for e in s.power_failure_log
    )
    return [
        f"0-0:96.7.21({s.short_power_failures:05d})",
        f"0-0:96.7.9({s.long_power_failures:05d})",
        f"1-0:99.97.0({len(s.power_failure_log)})(0-0:96.7.19){log}",
    ]


def _tariff_lines(s: MeterSnapshot) -> list[str]:
    return [
        f"1-0:1.8.1({_kwh(s.import_t1_kwh)})",
        f"1-0:1.8.2({_kwh(s.import_t2_kwh)})",
        f"1-0:2.8.1({_kwh(s.export_t1_kwh)})",
        f"1-0:2.8.2({_kwh(s.export_t2_kwh)})",
    ]


def _mbus(s: MeterSnapshot, reading: MBusReading | None) -> tuple[str, str]:
    """(timestamp, value) texts of an M-Bus reading."""
    if reading is None:
        msg = "this profile needs a meter with gas"
        raise ValueError(msg)
    return timestamp(reading.timestamp, s.tz), fixed(reading.value_m3, 5, 3)


def _gas_lines_dsmr(s: MeterSnapshot) -> list[str]:
    when, value = _mbus(s, s.gas)
    return [
        "0-1:24.1.0(003)",
        f"0-1:96.1.0({hex_text(s.gas_equipment_id or '')})",
        f"0-1:24.2.1({when})({value}*m3)",
    ]


# ------------------------------------------------------------------- renderers


def render_nl_dsmr5(s: MeterSnapshot) -> list[str]:
    """DSMR 5.0, Iskra AM550/MT382 layout, gas on channel 1."""
    return [
        "/ISk5\\2MT382-1000",
        "",
        "1-3:0.2.8(50)",
        f"0-0:1.0.0({timestamp(s.time, s.tz)})",
        f"0-0:96.1.1({hex_text(s.equipment_id)})",
        *_tariff_lines(s),
        f"0-0:96.14.0({s.active_tariff:04d})",
        f"1-0:1.7.0({_kw(s.power_import_kw)})",
        f"1-0:2.7.0({_kw(s.power_export_kw)})",
        *_failure_lines(s),
        *_event_lines(s),
        f"0-0:96.13.0({hex_text(s.text_message)})",
        *_phase_lines(s, 32, lambda p: f"{fixed(s.phases[p].voltage_v, 4, 1)}*V"),
        *_phase_lines(s, 31, lambda p: f"{fixed(s.phases[p].current_a, 1, 2)}*A"),
        *_phase_power_lines(s),
        *_gas_lines_dsmr(s),
    ]


def render_holley(s: MeterSnapshot) -> list[str]:
    """Render a DSMR 5 layout whose text message is padded with 0xFF bytes."""
    lines = render_nl_dsmr5(s)
    lines[0] = "/HLY5\\2DTZ541-ZEBA"
    message = next(i for i, line in enumerate(lines) if line.startswith("0-0:96.13.0"))
    lines[message] = "0-0:96.13.0(" + "\xff" * 16 + ")"
    return lines


def render_nl_dsmr4(s: MeterSnapshot) -> list[str]:
    """DSMR 4.2, Kaifa layout: integer amps, no voltages, hourly gas."""
    return [
        "/KFM5KAIFA-METER",
        "",
        "1-3:0.2.8(42)",
        f"0-0:1.0.0({timestamp(s.time, s.tz)})",
        f"0-0:96.1.1({hex_text(s.equipment_id)})",
        *_tariff_lines(s),
        f"0-0:96.14.0({s.active_tariff:04d})",
        f"1-0:1.7.0({_kw(s.power_import_kw)})",
        f"1-0:2.7.0({_kw(s.power_export_kw)})",
        *_failure_lines(s),
        *_event_lines(s),
        "0-0:96.13.1()",
        f"0-0:96.13.0({hex_text(s.text_message)})",
        *_phase_lines(s, 31, lambda p: f"{fixed(s.phases[p].current_a, 3, 0)}*A"),
        *[
            line
            for p in range(len(s.phases))
            for line in (
                f"1-0:{21 + 20 * p}.7.0({_kw(s.phases[p].power_import_kw)})",
                f"1-0:{22 + 20 * p}.7.0({_kw(s.phases[p].power_export_kw)})",
            )
        ],
        *_gas_lines_dsmr(s),
    ]


def render_nl_dsmr22(s: MeterSnapshot) -> list[str]:
    """DSMR 2.2, Iskra layout: plain identifiers, gas via 24.3.0, no CRC."""
    when, value = _mbus(s, s.gas)
    return [
        "/ISk5\\2MT382-1004",
        "",
        f"0-0:96.1.1({digits(s.equipment_id, 14)})",
        f"1-0:1.8.1({fixed(s.import_t1_kwh, 5, 3)}*kWh)",
        f"1-0:1.8.2({fixed(s.import_t2_kwh, 5, 3)}*kWh)",
        f"1-0:2.8.1({fixed(s.export_t1_kwh, 5, 3)}*kWh)",
        f"1-0:2.8.2({fixed(s.export_t2_kwh, 5, 3)}*kWh)",
        f"0-0:96.14.0({s.active_tariff:04d})",
        f"1-0:1.7.0({fixed(s.power_import_kw, 4, 2)}*kW)",
        f"1-0:2.7.0({fixed(s.power_export_kw, 4, 2)}*kW)",
        "0-0:17.0.0(0999.00*kW)",
        "0-0:96.3.10(1)",
        "0-0:96.13.1()",
        f"0-0:96.13.0({hex_text(s.text_message)})",
        "0-1:24.1.0(3)",
        f"0-1:96.1.0({digits(s.gas_equipment_id or '', 12)})",
        f"0-1:24.3.0({when[:12]})(00)(60)(1)(0-1:24.2.1)(m3)",
        f"({value})",
        "0-1:24.4.0(1)",
    ]


def render_be_fluvius(s: MeterSnapshot) -> list[str]:
    """Fluvius e-MUCS 1.7.1: capacity tariff registers, gas (24.2.3) and water."""
    peak = s.month_peak
    history = "".join(
        f"({timestamp(m.month_start, s.tz)})"
        f"({timestamp(m.occurred, s.tz)})"
        f"({_kw(m.value_kw)})"
        for m in s.peak_history
    )
    gas_when, gas_value = _mbus(s, s.gas)
    water_when, water_value = _mbus(s, s.water)
    return [
        "/FLU5\\253769484_A",
        "",
        "0-0:96.1.4(50217)",
        f"0-0:96.1.1({hex_text(s.equipment_id)})",
        f"0-0:1.0.0({timestamp(s.time, s.tz)})",
        *_tariff_lines(s),
        f"1-0:1.4.0({_kw(s.average_demand_kw)})",
        f"1-0:1.6.0({timestamp(peak.occurred, s.tz)})({_kw(peak.value_kw)})",
        f"0-0:98.1.0({len(s.peak_history)})(1-0:1.6.0)(1-0:1.6.0){history}",
        f"0-0:96.14.0({s.active_tariff:04d})",
        f"1-0:1.7.0({_kw(s.power_import_kw)})",
        f"1-0:2.7.0({_kw(s.power_export_kw)})",
        *_phase_power_lines(s),
        *_phase_lines(s, 32, lambda p: f"{fixed(s.phases[p].voltage_v, 3, 1)}*V"),
        *_phase_lines(s, 31, lambda p: f"{fixed(s.phases[p].current_a, 3, 2)}*A"),
        "0-0:96.3.10(1)",
        "0-0:17.0.0(999.9*kW)",
        "1-0:31.4.0(999*A)",
        f"0-0:96.13.0({hex_text(s.text_message)})",
        "0-1:24.1.0(003)",
        f"0-1:96.1.1({hex_text(s.gas_equipment_id or '')})",
        "0-1:24.4.0(1)",
        f"0-1:24.2.3({gas_when})({gas_value}*m3)",
        "0-2:24.1.0(007)",
        f"0-2:96.1.1({hex_text(s.water_equipment_id or '')})",
        f"0-2:24.2.1({water_when})({water_value}*m3)",
    ]


def _kva(active: Decimal, reactive: Decimal) -> str:
    """Apparent power from active and reactive power."""
    return f"{fixed((active * active + reactive * reactive).sqrt(), 2, 3)}*kVA"


def render_lu_smarty(s: MeterSnapshot) -> list[str]:
    """Luxembourg Smarty plaintext (Sagemcom T210-D layout), gas on channel 1."""
    gas_when, gas_value = _mbus(s, s.gas)
    return [
        "/Lux5\\253694471_M",
        "1-3:0.2.8(42)",
        f"0-0:1.0.0({timestamp(s.time, s.tz)})",
        f"0-0:42.0.0({hex_text(s.equipment_id)})",
        f"1-0:1.8.0({_kwh(s.import_total_kwh)})",
        f"1-0:2.8.0({_kwh(s.export_total_kwh)})",
        f"1-0:3.8.0({fixed(s.reactive_import_kvarh, 6, 3)}*kvarh)",
        f"1-0:4.8.0({fixed(s.reactive_export_kvarh, 6, 3)}*kvarh)",
        f"1-0:1.7.0({_kw(s.power_import_kw)})",
        f"1-0:2.7.0({_kw(s.power_export_kw)})",
        f"1-0:3.7.0({fixed(s.reactive_import_kvar, 2, 3)}*kvar)",
        f"1-0:4.7.0({fixed(s.reactive_export_kvar, 2, 3)}*kvar)",
        "0-0:17.0.0(069.0*kVA)",
        f"1-0:9.7.0({_kva(s.power_import_kw, s.reactive_import_kvar)})",
        f"1-0:10.7.0({_kva(s.power_export_kw, s.reactive_export_kvar)})",
        "1-1:31.4.0(100*A)(-063*A)",
        "0-0:96.3.10(1)",
        "0-1:96.3.10(0)",
        f"0-0:96.7.21({s.short_power_failures:05d})",
        *_event_lines(s),
        f"0-0:96.13.0({hex_text(s.text_message)})",
        "0-0:96.13.2()",
        "0-0:96.13.3()",
        "0-0:96.13.4()",
        "0-0:96.13.5()",
        *_phase_lines(s, 32, lambda p: f"{fixed(s.phases[p].voltage_v, 3, 1)}*V"),
        *_phase_lines(s, 31, lambda p: f"{fixed(s.phases[p].current_a, 3, 0)}*A"),
        *_phase_power_lines(s),
        *_phase_lines(
            s, 23, lambda p: f"{fixed(s.phases[p].reactive_import_kvar, 2, 3)}*kvar"
        ),
        *_phase_lines(
            s, 24, lambda p: f"{fixed(s.phases[p].reactive_export_kvar, 2, 3)}*kvar"
        ),
        "0-1:24.1.0(003)",
        f"0-1:96.1.0({hex_text(s.gas_equipment_id or '')})",
        f"0-1:24.2.1({gas_when})({gas_value}*m3)",
        "0-1:24.4.0(1)",
    ]


def render_se(s: MeterSnapshot) -> list[str]:
    """Swedish HAN port, Kamstrup layout: totals and reactive power, no identifier."""

    def kw(value: Decimal) -> str:
        return f"{fixed(value, 4, 3)}*kW"

    def kvar(value: Decimal) -> str:
        return f"{fixed(value, 4, 3)}*kVAr"

    return [
        "/KAM5",
        "",
        f"0-0:1.0.0({timestamp(s.time, s.tz)})",
        f"1-0:1.8.0({fixed(s.import_total_kwh, 8, 3)}*kWh)",
        f"1-0:2.8.0({fixed(s.export_total_kwh, 8, 3)}*kWh)",
        f"1-0:3.8.0({fixed(s.reactive_import_kvarh, 8, 3)}*kVArh)",
        f"1-0:4.8.0({fixed(s.reactive_export_kvarh, 8, 3)}*kVArh)",
        f"1-0:1.7.0({kw(s.power_import_kw)})",
        f"1-0:2.7.0({kw(s.power_export_kw)})",
        f"1-0:3.7.0({kvar(s.reactive_import_kvar)})",
        f"1-0:4.7.0({kvar(s.reactive_export_kvar)})",
        *_phase_lines(s, 21, lambda p: kw(s.phases[p].power_import_kw)),
        *_phase_lines(s, 22, lambda p: kw(s.phases[p].power_export_kw)),
        *_phase_lines(s, 23, lambda p: kvar(s.phases[p].reactive_import_kvar)),
        *_phase_lines(s, 24, lambda p: kvar(s.phases[p].reactive_export_kvar)),
        *_phase_lines(s, 32, lambda p: f"{fixed(s.phases[p].voltage_v, 3, 1)}*V"),
        *_phase_lines(s, 31, lambda p: f"{fixed(s.phases[p].current_a, 3, 1)}*A"),
    ]


RENDERERS: dict[str, Renderer] = {
    "nl_dsmr5_gas": render_nl_dsmr5,
    "nl_dsmr4": render_nl_dsmr4,
    "nl_dsmr22": render_nl_dsmr22,
    "be_5b_gas_water": render_be_fluvius,
    "lu_encrypted": render_lu_smarty,
    "se": render_se,
    "holley_x25": render_holley,
}
"""The renderer of each profile."""


# -------------------------------------------------------------------- framing


def render_body(
    profile: Profile | str, source: SimulatedMeter | MeterSnapshot
) -> bytes:
    """Render the telegram from ``/`` up to and including ``!``."""
    snapshot = source.snapshot() if isinstance(source, SimulatedMeter) else source
    lines = RENDERERS[get_profile(profile).name](snapshot)
    return ("\r\n".join(lines) + "\r\n!").encode("latin-1")


def crc16_x25(data: bytes) -> int:
    """CRC-16/X.25, as some meters (Holley) compute their checksum."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def finish(
    body: bytes, *, checksum: bool, wrong_crc: bool = False, x25: bool = False
) -> bytes:
    """Append the CRC (when ``checksum``) and the final CRLF to a body.

    With ``wrong_crc`` the CRC is deliberately wrong; for a telegram without a
    CRC a digit of the first energy register is changed instead (a
    transmission error that such a meter's reader cannot notice).
    """
    if not checksum:
        return (corrupt_digit(body) if wrong_crc else body) + b"\r\n"
    crc = crc16_x25(body) if x25 else crc16(body)
    if wrong_crc:
        crc ^= 0x5A5A
    return body + f"{crc:04X}\r\n".encode("ascii")


def _first_register_digit(body: bytes) -> int:
    """Index of the first digit of the first energy register value."""
    marker = body.find(b"1-0:1.8.")
    start = body.find(b"(", marker if marker >= 0 else 0)
    return start + 1


def corrupt_digit(body: bytes) -> bytes:
    """Change one digit of the first energy register (0 <-> 1, ...)."""
    index = _first_register_digit(body)
    data = bytearray(body)
    data[index] = ord("0") + (data[index] - ord("0") + 1) % 10
    return bytes(data)


def set_high_bit(body: bytes) -> bytes:
    """Set the 8th bit of one byte inside a value, making the telegram non-ASCII."""
    index = _first_register_digit(body)
    data = bytearray(body)
    data[index] |= 0x80
    return bytes(data)


def render_telegram(
    profile: Profile | str,
    source: SimulatedMeter | MeterSnapshot,
    *,
    wrong_crc: bool = False,
    non_ascii: bool = False,
) -> bytes:
    """Render the complete plaintext telegram (bytes as sent on the wire).

    ``wrong_crc`` makes the checksum wrong; ``non_ascii`` sets the high bit of
    one byte inside a value and computes the CRC over the altered bytes, so
    the CRC matches and only the non-ASCII byte is wrong.
    """
    resolved = get_profile(profile)
    body = render_body(resolved, source)
    if non_ascii:
        body = set_high_bit(body)
    return finish(
        body, checksum=resolved.checksum, wrong_crc=wrong_crc, x25=resolved.crc_x25
    )

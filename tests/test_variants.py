"""Telegrams as meters really write them: framing, checksums, bytes, layouts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from unittest.mock import patch

from homeassistant.core import HomeAssistant
import pytest

from custom_components.slimme_meter import runtime as runtime_module
from custom_components.slimme_meter.p1.connection import Endpoint
from custom_components.slimme_meter.p1.decode import (
    ChecksumError,
    Decoder,
    IncompleteTelegram,
    Reading,
    crc16,
    crc16_x25,
    read_generic,
)
from custom_components.slimme_meter.p1.detect import DetectError, classify, detect
from custom_components.slimme_meter.p1.framing import QUIET_GAP, PlainFramer
from custom_components.slimme_meter.p1.specs import SPECS

from .helpers import FIXTURES, V5, body, meter_entry, setup_meter, with_crc
from .server import TelegramServer

NO_END = (FIXTURES / "dsmr_2_2_no_end_marker.txt").read_bytes()
SHORT_CRC = (FIXTURES / "crc_short_v5.txt").read_bytes()
SWEDEN = (FIXTURES / "sweden_units_without_star.txt").read_bytes()
LITHUANIA = (FIXTURES / "lithuania_eso.txt").read_bytes()
E660 = (FIXTURES / "belgium_landis_gyr_e660.txt").read_bytes()
XT211 = (FIXTURES / "belgium_sagemcom_xt211.txt").read_bytes()
BUSINESS = (FIXTURES / "nl_business_meter_current.txt").read_bytes()
FOUR_MBUS = (FIXTURES / "four_mbus_leading_crlf.txt").read_bytes()
HUNGARY = (FIXTURES / "eon_hungary_ff_padding.txt").read_bytes()
HOLLEY = (FIXTURES / "holley_crc_x25.txt").read_bytes()


def _frame(telegram: bytes) -> bytes:
    framer = PlainFramer()
    frames = framer.feed(telegram) or framer.feed(b"/", QUIET_GAP)
    assert len(frames) == 1
    return frames[0]


def _x25_bitwise(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def _with_x25(telegram: bytes) -> bytes:
    text = body(telegram)
    return text + b"%04X\r\n" % _x25_bitwise(text)


# Framing: a telegram without '!'


def test_a_telegram_without_end_marker_ends_at_the_next_start_after_a_pause() -> None:
    framer = PlainFramer()
    assert framer.feed(NO_END[:200], 10.0) == []
    assert framer.feed(NO_END[200:], 10.1) == []  # the same burst goes on
    # The meter's line end before the pause stays with its telegram.
    assert framer.feed(b"\r\n/ISk5", 10.0 + 1 + QUIET_GAP) == [NO_END + b"\r\n"]
    assert framer.incomplete == 0
    # The next telegram follows the same way.
    assert framer.feed(NO_END[5:], 11.7) == []
    assert framer.feed(b"/", 13.0) == [NO_END]


def test_a_start_inside_a_burst_still_cuts_a_telegram_off() -> None:
    framer = PlainFramer()
    assert framer.feed(NO_END[:200], 0.0) == []
    assert framer.feed(NO_END, 0.05) == []  # no pause: the first was cut off
    assert framer.incomplete == 1
    # Bytes other than a line end before the '/' are no clean new start.
    assert framer.feed(b"noise/", 5.0) == []
    assert framer.incomplete == 2


def test_a_telegram_without_end_marker_decodes_only_without_a_crc() -> None:
    snapshot = Decoder(SPECS["dsmr_2_2"]).decode(NO_END)
    assert snapshot.value("1.8.1") == Decimal("1.001")
    assert snapshot.mbus_device(1) is not None
    with pytest.raises(IncompleteTelegram):
        Decoder(SPECS["5"]).decode(body(V5)[:-1])


# Checksums


def test_a_crc_with_fewer_than_four_digits() -> None:
    frame = _frame(SHORT_CRC)
    given = frame[frame.rindex(b"!") + 1 :]
    assert len(given) < 4
    assert int(given, 16) == crc16(frame[: frame.rindex(b"!") + 1])
    assert Decoder(SPECS["5"]).decode(frame).value("1.8.1") == Decimal("4.426")
    wrong = frame[:-1] + (b"0" if frame[-1:] != b"0" else b"1")
    with pytest.raises(ChecksumError):
        Decoder(SPECS["5"]).decode(wrong)


def test_crc16_x25_check_value() -> None:
    # The catalogued check value of CRC-16/X.25 (CRC-16/IBM-SDLC).
    assert crc16_x25(b"123456789") == 0x906E
    data = bytes(range(256)) * 3 + b"!"
    assert crc16_x25(data) == _x25_bitwise(data)


def test_the_decoder_learns_the_meters_checksum_and_keeps_it() -> None:
    decoder = Decoder(SPECS["5"])
    assert decoder.checksum == "crc16_arc"
    snapshot = decoder.decode(_frame(HOLLEY))
    assert decoder.checksum == "crc16_x25"
    assert snapshot.value("1.7.0") == Decimal("0.244")
    # The next telegram of this meter, with a new power value.
    again = _with_x25(HOLLEY.replace(b"(00.244*kW)", b"(01.500*kW)"))
    assert decoder.decode(_frame(again)).value("1.7.0") == Decimal("1.500")
    # Once known, a telegram with the other kind of checksum is refused.
    with pytest.raises(ChecksumError):
        decoder.decode(with_crc(body(HOLLEY)))
    # An ordinary meter's decoder keeps CRC-16/ARC and refuses X.25.
    ordinary = Decoder(SPECS["5"])
    ordinary.decode(V5)
    with pytest.raises(ChecksumError):
        ordinary.decode(_with_x25(V5))
    assert ordinary.checksum == "crc16_arc"


def test_a_checksum_matching_neither_is_refused() -> None:
    corrupt = HOLLEY.replace(b"(00.244*kW)", b"(00.245*kW)")
    for spec in ("5", "4", "belgium_5b"):
        with pytest.raises(ChecksumError):
            Decoder(SPECS[spec]).decode(_frame(corrupt))
    assert classify(_frame(corrupt)) is None


# Bytes outside ASCII


def test_bytes_outside_ascii_lose_only_their_line() -> None:
    frame = _frame(HUNGARY)
    assert not frame.isascii()
    snapshot = Decoder(SPECS["eon_hungary"]).decode(frame)
    assert snapshot.lenient == 2  # the header and the text message
    assert snapshot.header == "SLB5\\253AM550-TD2"
    assert snapshot.value("96.13.0") in ("", None)
    assert snapshot.value("1.8.0") == Decimal("1234.567")
    assert snapshot.value("14.7.0") == Decimal("50.00")
    assert snapshot.equipment_id == "SAG1030790002574"


def test_the_crc_covers_the_bytes_as_received() -> None:
    frame = _frame(HUNGARY)
    changed = frame.replace(b"\xff", b"\xfe", 1)
    with pytest.raises(ChecksumError):
        Decoder(SPECS["eon_hungary"]).decode(changed)


def test_cubic_metres_written_with_a_superscript_three() -> None:
    snapshot = Decoder(SPECS["5"]).decode(_frame(HOLLEY))
    assert snapshot.lenient == 1
    gas = snapshot.mbus_device(1)
    assert gas is not None
    assert (gas.reading, gas.unit, gas.kind) == (Decimal("0.107"), "m3", "gas")


# Lines no specification pattern reads


def test_units_without_star_and_in_lower_case() -> None:
    snapshot = Decoder(SPECS["sweden_5s"]).decode(_frame(SWEDEN))
    assert snapshot.value("1.8.0") == Decimal("12345.678")
    assert snapshot.unit("1.8.0") == "kWh"
    assert snapshot.value("1.7.0") == Decimal("1.234")
    assert snapshot.unit("1.7.0") == "kW"
    assert (snapshot.value("32.7.0"), snapshot.unit("32.7.0")) == (
        Decimal("238.0"),
        "V",
    )
    assert (snapshot.value("31.7.0"), snapshot.unit("31.7.0")) == (
        Decimal("5.4"),
        "A",
    )
    assert snapshot.unit("3.8.0") == "kvarh"
    assert snapshot.unit("3.7.0") == "kvar"


def test_lithuanian_tariff_registers_voltage_and_current() -> None:
    spec, snapshot = classify(_frame(LITHUANIA)) or (None, None)
    assert spec is not None
    assert snapshot is not None
    assert snapshot.equipment_id == "LT0012345678"
    for code, value in {
        "1.8.0": "4567.890",
        "1.8.3": "900.000",
        "1.8.4": "100.000",
        "2.8.4": "0.000",
        "32.7.0": "231.4",
        "71.7.0": "0.77",
        "13.7.0": "0.982",
    }.items():
        assert snapshot.value(code) == Decimal(value), code
    assert snapshot.unit("31.7.0") == "A"


def test_belgian_maximum_demand_written_without_star() -> None:
    snapshot = Decoder(SPECS["belgium_5b"]).decode(_frame(E660))
    peak = snapshot.objects["1.6.0"]
    assert (peak.value, peak.unit) == (Decimal("2.589"), "kW")
    assert peak.datetime == datetime(2020, 5, 9, 11, 45, 58, tzinfo=UTC)
    history = snapshot.objects["98.1.0"]
    assert [p.value for p in history] == [
        Decimal("3.695"),
        Decimal("5.980"),
        Decimal("4.318"),
    ]
    assert history[2].occurred == datetime(2020, 2, 10, 2, 54, 21, tzinfo=UTC)


def test_xt211_average_demand_and_a_month_without_peak() -> None:
    snapshot = Decoder(SPECS["belgium_5b"]).decode(_frame(XT211))
    assert snapshot.value("1.4.0") == Decimal("2.351")
    assert snapshot.unit("1.4.0") == "kW"
    history = snapshot.objects["98.1.0"]
    assert [p.value for p in history] == [Decimal("3.695"), Decimal("5.980"), None]
    assert history[2].occurred is None


def test_business_meter_currents() -> None:
    snapshot = Decoder(SPECS["4"]).decode(_frame(BUSINESS))
    assert [snapshot.value(c) for c in ("31.7.0", "51.7.0", "71.7.0")] == [
        Decimal("12.52"),
        Decimal("36.07"),
        Decimal("9.91"),
    ]
    assert snapshot.unit("51.7.0") == "A"


def test_four_mbus_devices_after_an_extra_line_end() -> None:
    snapshot = Decoder(SPECS["5"]).decode(_frame(FOUR_MBUS))
    devices = {d.channel: (d.kind, d.reading, d.unit) for d in snapshot.mbus}
    assert devices == {
        1: ("gas", Decimal("0.107"), "m3"),
        2: ("water", Decimal("872.234"), "m3"),
        3: ("heat", Decimal("12.345"), "GJ"),
        4: ("gas", Decimal("1234.567"), "m3"),
    }


def test_generic_grammar() -> None:
    assert read_generic("1.8.0", "1-0:1.8.0(000123.456kWh)") == Reading(
        Decimal("123.456"), "kWh"
    )
    assert read_generic("96.1.1", "0-0:96.1.1(4B384547)") == Reading("4B384547")
    assert read_generic("96.13.0", "0-0:96.13.0()") == Reading(None)
    assert read_generic("1.0.0", "0-0:1.0.0(200512135409S)") == Reading(
        datetime(2020, 5, 12, 11, 54, 9, tzinfo=UTC)
    )
    limit = read_generic("31.4.0", "1-1:31.4.0(100*A)(-063*A)")
    assert limit == Reading(Decimal(100), "A")
    assert read_generic("1.7.0", "1-0:1.7.0") is None
    assert read_generic("98.1.0", "0-0:98.1.0(0)(1-0:1.6.0)(1-0:1.6.0)()") == []


# Detection without a manual choice


KINDS = {
    "dsmr_2_2_no_end_marker": (NO_END, "dsmr_2_2"),
    "crc_short_v5": (SHORT_CRC, "5"),
    "sweden_units_without_star": (SWEDEN, "sweden_5s"),
    "lithuania_eso": (LITHUANIA, None),
    "belgium_landis_gyr_e660": (E660, "belgium_5b"),
    "belgium_sagemcom_xt211": (XT211, "belgium_5b"),
    "nl_business_meter_current": (BUSINESS, "4"),
    "four_mbus_leading_crlf": (FOUR_MBUS, "5"),
    "eon_hungary_ff_padding": (HUNGARY, "eon_hungary"),
    "holley_crc_x25": (HOLLEY, "5"),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_detection_finds_every_kind(server: TelegramServer, kind: str) -> None:
    telegram, spec_id = KINDS[kind]
    task = asyncio.create_task(
        detect(Endpoint(host="127.0.0.1", port=server.port), 5.0)
    )
    await server.wait_client()
    await server.send(telegram)
    if b"!" not in telegram:
        await asyncio.sleep(QUIET_GAP * 1.2)
        await server.send(telegram)
    found = await task
    if spec_id is not None:
        assert found.spec.id == spec_id
    assert found.snapshot.generic < len(found.snapshot.objects)
    assert found.snapshot.value("1.8.1") or found.snapshot.total(1) is not None


def test_a_damaged_digit_drops_its_line_alone() -> None:
    # The meter's own CRC covers the damaged byte: the telegram is whole.
    damaged = with_crc(
        body(V5).replace(b"1-0:1.8.1(000004.426", b"1-0:1.8.1(0000\xb4.426")
    )
    decoder = Decoder(SPECS["5"])
    snapshot = decoder.decode(damaged)
    assert (snapshot.lenient, snapshot.dropped) == (1, 1)
    assert "1.8.1" not in snapshot.objects
    assert snapshot.value("1.8.2") == Decimal("2.399")
    assert snapshot.value("1.7.0") == Decimal("0.244")
    # No sum of the remaining tariffs, which would be too low.
    assert snapshot.total(1) is None
    assert snapshot.total(2) is None
    # The next telegram is whole again.
    assert decoder.decode(V5).total(1) == Decimal("6.825")


def test_a_quiet_line_ends_a_started_telegram_only_when_asked() -> None:
    framer = PlainFramer()
    assert framer.flush(1.0) is None  # nothing started
    assert framer.feed(NO_END, 1.0) == []
    assert framer.flush(1.0 + QUIET_GAP / 2) is None  # not quiet yet
    assert framer.flush(1.0 + QUIET_GAP) == NO_END
    assert framer.flush(5.0) is None
    assert framer.feed(body(V5)[:100], 6.0) == []
    assert framer.feed(body(V5)[100:], 6.1) == []  # ends at '!', CRC to come
    assert framer.flush(9.0) is None  # '!' arrived: not a telegram without end


async def test_detection_takes_one_telegram_without_end_marker(
    server: TelegramServer,
) -> None:
    """A DSMR 2.2 meter sends every 10 s: one telegram in the window is enough."""
    task = asyncio.create_task(
        detect(Endpoint(host="127.0.0.1", port=server.port), 1.5)
    )
    await server.wait_client()
    await server.send(NO_END)
    found = await task
    assert found.spec.id == "dsmr_2_2"
    assert found.snapshot.value("1.8.1") == Decimal("1.001")


async def test_detection_refuses_noise_without_end_marker(
    server: TelegramServer,
) -> None:
    task = asyncio.create_task(
        detect(Endpoint(host="127.0.0.1", port=server.port), 1.0)
    )
    await server.wait_client()
    await server.send(b"/XYZ5\r\n\r\nno telegram here\r\n")
    with pytest.raises(DetectError) as caught:
        await task
    assert caught.value.reason == "invalid_telegrams"


class _History:
    """Records what the runtime hands to the merged history."""

    def __init__(self) -> None:
        self.recorded: list[tuple[str, datetime, Decimal]] = []

    def record_local(self, series: str, at: datetime, value: Decimal) -> bool:
        self.recorded.append((series, at, value))
        return False


async def test_an_hour_boundary_waits_for_a_whole_telegram(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = meter_entry(server.port)
    assert await setup_meter(hass, entry)
    runtime = entry.runtime_data
    decoder = Decoder(SPECS["5"])
    damaged = decoder.decode(
        with_crc(body(V5).replace(b"1-0:1.8.1(000004.426", b"1-0:1.8.1(0000\xb4.426"))
    )
    whole = decoder.decode(V5)
    history = _History()
    hour = 3600 * 493_000
    with patch(f"{runtime_module.__name__}.time.time", return_value=hour + 5.0):
        runtime._record_history(damaged, history)  # type: ignore[arg-type]
        assert history.recorded == []
        runtime._record_history(whole, history)  # type: ignore[arg-type]
        runtime._record_history(whole, history)  # type: ignore[arg-type]
    at = datetime.fromtimestamp(hour, UTC)
    assert [(when, value) for _, when, value in history.recorded] == [
        (at, Decimal("6.825")),
        (at, Decimal("2.444")),
    ]
    assert await hass.config_entries.async_unload(entry.entry_id)

"""Telegram rendering: every profile parses with dsmr_parser and shows the meter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from dsmr_parser import telegram_specifications
from dsmr_parser.clients.telegram_buffer import EncryptedTelegramBuffer, TelegramBuffer
from dsmr_parser.exceptions import DecryptionError, InvalidChecksumError
from dsmr_parser.parsers import TelegramParser
import pytest

from simulators.dlms import (
    DEFAULT_AUTHENTICATION_KEY,
    DEFAULT_ENCRYPTION_KEY,
    DlmsEncryptor,
)
from simulators.meter import MeterSnapshot, SimulatedMeter
from simulators.profiles import PROFILES, get_profile
from simulators.source import ManualClock, TelegramSource
from simulators.telegram import (
    crc16,
    crc16_x25,
    finish,
    fixed,
    render_telegram,
    timestamp,
)

from ..helpers import SHARED_TELEGRAMS

AMS = ZoneInfo("Europe/Amsterdam")
TELEGRAMS = SHARED_TELEGRAMS

MOMENTS = {
    "winter_day": datetime(2025, 1, 6, 9, 17, 3, tzinfo=UTC),
    "summer_noon": datetime(2025, 6, 18, 10, 30, 0, tzinfo=UTC),
    "before_spring_dst": datetime(2025, 3, 30, 0, 59, 59, tzinfo=UTC),
    "after_spring_dst": datetime(2025, 3, 30, 1, 0, 1, tzinfo=UTC),
    "autumn_first_0230": datetime(2025, 10, 26, 0, 30, 0, tzinfo=UTC),
    "autumn_second_0230": datetime(2025, 10, 26, 1, 30, 0, tzinfo=UTC),
}


def _meter_at(profile: str, moment: datetime, seed: int = 11) -> SimulatedMeter:
    meter = get_profile(profile).create_meter(
        seed=seed, start=moment - timedelta(hours=2)
    )
    meter.advance(moment)
    return meter


def _parse(profile: str, data: bytes, spec: str | None = None) -> Any:
    name = spec or get_profile(profile).spec_name
    parser = TelegramParser(getattr(telegram_specifications, name))
    return parser.parse(data.decode("ascii"), throw_ex=True)


def _unhex(value: str) -> str:
    return bytes.fromhex(value).decode("ascii")


def _down(value: Decimal, decimals: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN)


def _check_tariffs(t: Any, s: MeterSnapshot) -> None:
    assert t.ELECTRICITY_USED_TARIFF_1.value == s.import_t1_kwh
    assert t.ELECTRICITY_USED_TARIFF_2.value == s.import_t2_kwh
    assert t.ELECTRICITY_DELIVERED_TARIFF_1.value == s.export_t1_kwh
    assert t.ELECTRICITY_DELIVERED_TARIFF_2.value == s.export_t2_kwh
    assert t.ELECTRICITY_USED_TARIFF_1.unit == "kWh"
    assert t.ELECTRICITY_ACTIVE_TARIFF.value == f"{s.active_tariff:04d}"


def _check_power(t: Any, s: MeterSnapshot, current_decimals: int | None = 2) -> None:
    assert t.CURRENT_ELECTRICITY_USAGE.value == s.power_import_kw
    assert t.CURRENT_ELECTRICITY_DELIVERY.value == s.power_export_kw
    assert t.CURRENT_ELECTRICITY_USAGE.unit == "kW"
    for index, phase in enumerate(s.phases, start=1):
        assert getattr(t, f"INSTANTANEOUS_ACTIVE_POWER_L{index}_POSITIVE").value == (
            phase.power_import_kw
        )
        assert getattr(t, f"INSTANTANEOUS_ACTIVE_POWER_L{index}_NEGATIVE").value == (
            phase.power_export_kw
        )
        if current_decimals is not None:
            current = getattr(t, f"INSTANTANEOUS_CURRENT_L{index}")
            assert current.value == _down(phase.current_a, current_decimals)
            assert current.unit == "A"


def _check_voltages(t: Any, s: MeterSnapshot) -> None:
    for index, phase in enumerate(s.phases, start=1):
        voltage = getattr(t, f"INSTANTANEOUS_VOLTAGE_L{index}")
        assert voltage.value == phase.voltage_v
        assert voltage.unit == "V"


def _check_mbus(
    t: Any, channel: int, device_type: int, ident: str | None, reading: Any
) -> None:
    device = t.get_mbus_device_by_channel(channel)
    assert device is not None
    assert device.MBUS_DEVICE_TYPE.value == device_type
    assert _unhex(device.MBUS_EQUIPMENT_IDENTIFIER.value) == ident
    assert device.MBUS_METER_READING.value == reading.value_m3
    assert device.MBUS_METER_READING.unit == "m3"
    assert device.MBUS_METER_READING.datetime == reading.timestamp


def _check_failures(t: Any, s: MeterSnapshot) -> None:
    assert t.SHORT_POWER_FAILURE_COUNT.value == s.short_power_failures
    assert t.LONG_POWER_FAILURE_COUNT.value == s.long_power_failures
    log = t.POWER_EVENT_FAILURE_LOG
    assert log.buffer_length == len(s.power_failure_log)
    assert [(e.datetime, e.value) for e in log.buffer] == [
        (f.end, f.duration_s) for f in s.power_failure_log
    ]
    assert t.VOLTAGE_SAG_L1_COUNT.value == s.voltage_sags[0]
    assert t.VOLTAGE_SWELL_L3_COUNT.value == s.voltage_swells[2]


def check_nl_dsmr5(t: Any, s: MeterSnapshot) -> None:
    assert t.P1_MESSAGE_HEADER.value == "50"
    assert t.P1_MESSAGE_TIMESTAMP.value == s.time
    assert _unhex(t.EQUIPMENT_IDENTIFIER.value) == s.equipment_id
    _check_tariffs(t, s)
    _check_power(t, s)
    _check_voltages(t, s)
    _check_failures(t, s)
    assert s.gas is not None
    _check_mbus(t, 1, 3, s.gas_equipment_id, s.gas)


def check_nl_dsmr4(t: Any, s: MeterSnapshot) -> None:
    assert t.P1_MESSAGE_HEADER.value == "42"
    assert t.P1_MESSAGE_TIMESTAMP.value == s.time
    assert _unhex(t.EQUIPMENT_IDENTIFIER.value) == s.equipment_id
    _check_tariffs(t, s)
    _check_power(t, s, current_decimals=0)
    _check_failures(t, s)
    assert s.gas is not None
    assert t.HOURLY_GAS_METER_READING.value == s.gas.value_m3
    assert t.HOURLY_GAS_METER_READING.datetime == s.gas.timestamp
    assert s.gas.timestamp.minute == 0
    assert _unhex(t.EQUIPMENT_IDENTIFIER_GAS.value) == s.gas_equipment_id


def check_nl_dsmr22(t: Any, s: MeterSnapshot) -> None:
    assert t.EQUIPMENT_IDENTIFIER.value == s.equipment_id[-14:]
    _check_tariffs(t, s)
    assert t.CURRENT_ELECTRICITY_USAGE.value == _down(s.power_import_kw, 2)
    assert t.CURRENT_ELECTRICITY_DELIVERY.value == _down(s.power_export_kw, 2)
    assert s.gas is not None
    assert s.gas_equipment_id is not None
    gas = t.GAS_METER_READING
    assert gas.value == s.gas.value_m3
    assert gas.unit == "m3"
    # DSMR 2.2 timestamps carry no summer/winter flag: compare local clock time.
    local = s.gas.timestamp.astimezone(AMS).replace(tzinfo=None)
    assert gas.datetime.astimezone(AMS).replace(tzinfo=None) == local
    assert t.EQUIPMENT_IDENTIFIER_GAS.value == s.gas_equipment_id[-12:]


def check_be(t: Any, s: MeterSnapshot) -> None:
    assert t.BELGIUM_VERSION_INFORMATION.value == "50217"
    assert _unhex(t.BELGIUM_EQUIPMENT_IDENTIFIER.value) == s.equipment_id
    assert t.P1_MESSAGE_TIMESTAMP.value == s.time
    _check_tariffs(t, s)
    _check_power(t, s)
    _check_voltages(t, s)
    assert t.BELGIUM_CURRENT_AVERAGE_DEMAND.value == s.average_demand_kw
    assert t.BELGIUM_MAXIMUM_DEMAND_MONTH.value == s.month_peak.value_kw
    assert t.BELGIUM_MAXIMUM_DEMAND_MONTH.datetime == s.month_peak.occurred
    history = t.BELGIUM_MAXIMUM_DEMAND_13_MONTHS
    assert [(p.datetime, p.occurred, p.value) for p in history] == [
        (m.month_start, m.occurred, m.value_kw) for m in s.peak_history
    ]
    assert s.gas is not None
    assert s.water is not None
    _check_mbus(t, 1, 3, s.gas_equipment_id, s.gas)
    _check_mbus(t, 2, 7, s.water_equipment_id, s.water)


def check_lu(t: Any, s: MeterSnapshot) -> None:
    assert t.P1_MESSAGE_HEADER.value == "42"
    assert t.P1_MESSAGE_TIMESTAMP.value == s.time
    assert _unhex(t.LUXEMBOURG_EQUIPMENT_IDENTIFIER.value) == s.equipment_id
    assert t.ELECTRICITY_IMPORTED_TOTAL.value == s.import_total_kwh
    assert t.ELECTRICITY_EXPORTED_TOTAL.value == s.export_total_kwh
    _check_power(t, s, current_decimals=0)
    _check_voltages(t, s)
    assert s.gas is not None
    _check_mbus(t, 1, 3, s.gas_equipment_id, s.gas)


def check_lu_msn(t: Any, s: MeterSnapshot) -> None:
    check_lu(t, s)
    assert t.ELECTRICITY_REACTIVE_IMPORTED_TOTAL.value == s.reactive_import_kvarh
    assert t.ELECTRICITY_REACTIVE_EXPORTED_TOTAL.value == s.reactive_export_kvarh
    assert t.CURRENT_REACTIVE_IMPORTED.value == s.reactive_import_kvar
    assert (
        t.INSTANTANEOUS_REACTIVE_POWER_L1_POSITIVE.value
        == s.phases[0].reactive_import_kvar
    )


def check_se(t: Any, s: MeterSnapshot) -> None:
    assert t.P1_MESSAGE_TIMESTAMP.value == s.time
    assert t.ELECTRICITY_IMPORTED_TOTAL.value == s.import_total_kwh
    assert t.ELECTRICITY_EXPORTED_TOTAL.value == s.export_total_kwh
    assert t.ELECTRICITY_REACTIVE_IMPORTED_TOTAL.value == s.reactive_import_kvarh
    assert t.ELECTRICITY_REACTIVE_EXPORTED_TOTAL.value == s.reactive_export_kvarh
    _check_power(t, s, current_decimals=1)
    _check_voltages(t, s)
    for index, phase in enumerate(s.phases, start=1):
        assert getattr(t, f"INSTANTANEOUS_REACTIVE_POWER_L{index}_POSITIVE").value == (
            phase.reactive_import_kvar
        )
    assert not hasattr(t, "EQUIPMENT_IDENTIFIER")


CHECKS: dict[str, Callable[[Any, MeterSnapshot], None]] = {
    "nl_dsmr5_gas": check_nl_dsmr5,
    "nl_dsmr4": check_nl_dsmr4,
    "nl_dsmr22": check_nl_dsmr22,
    "be_5b_gas_water": check_be,
    "lu_encrypted": check_lu,
    "se": check_se,
    "holley_x25": check_nl_dsmr5,
}
PLAINTEXT_SPEC = {"lu_encrypted": "LUXEMBOURG_SMARTY"}


def test_every_profile_is_checked() -> None:
    assert set(CHECKS) == set(PROFILES)


@pytest.mark.parametrize("moment", MOMENTS.values(), ids=MOMENTS.keys())
@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_profile_parses_with_dsmr_parser(profile: str, moment: datetime) -> None:
    meter = _meter_at(profile, moment)
    snapshot = meter.snapshot()
    data = rendered = render_telegram(profile, snapshot)
    assert data.startswith(b"/")
    assert b"\n" not in data.replace(b"\r\n", b"")
    if get_profile(profile).crc_x25:
        # dsmr_parser reads neither X.25 nor the padding: give it neither.
        assert int(data[-6:-2], 16) == crc16_x25(data[: data.rindex(b"!") + 1])
        assert data.count(b"\xff") == 16
        data = finish(
            data[: data.rindex(b"!") + 1].replace(b"\xff", b""), checksum=True
        )
    assert data.isascii()
    if get_profile(profile).checksum:
        assert data[-7:-6] == b"!"
        assert int(data[-6:-2], 16) == crc16(data[: data.rindex(b"!") + 1])
        assert data[-6:-2].decode().isupper() or data[-6:-2].isdigit()
    else:
        assert data.endswith(b"\r\n!\r\n")
    telegram = _parse(profile, data, PLAINTEXT_SPEC.get(profile))
    CHECKS[profile](telegram, snapshot)
    assert render_telegram(profile, meter) == rendered


def test_crc_matches_real_telegrams_and_dsmr_parser() -> None:
    for name, expected in [
        ("v5_plain_iskra_mt382.txt", 0x6EEE),
        ("v4_2_kaifa.txt", 0x6796),
        ("fluvius_v171_gas_water.txt", 0x3AD7),
    ]:
        raw = (TELEGRAMS / name).read_bytes()
        body = raw[: raw.rindex(b"!") + 1]
        assert crc16(body) == expected
    data = render_telegram(
        "nl_dsmr5_gas", _meter_at("nl_dsmr5_gas", MOMENTS["winter_day"])
    )
    text = data[: data.rindex(b"!") + 1].decode("ascii")
    assert crc16(text.encode()) == TelegramParser.crc16(text)


def _obis_codes(data: bytes) -> set[bytes]:
    return {
        line.split(b"(")[0]
        for line in data.split(b"\r\n")
        if line and not line.startswith((b"/", b"!", b"("))
    }


@pytest.mark.parametrize(
    ("profile", "fixture", "not_simulated"),
    [
        ("nl_dsmr5_gas", "v5_plain_iskra_mt382.txt", {b"0-2:24.1.0", b"0-2:96.1.0"}),
        ("nl_dsmr4", "v4_2_kaifa.txt", set()),
        ("nl_dsmr22", "v2_2_iskra_mt382.txt", set()),
        ("be_5b_gas_water", "fluvius_v171_gas_water.txt", set()),
        ("se", "sweden_kamstrup_kam5.txt", set()),
    ],
)
def test_same_lines_as_the_real_meter(
    profile: str, fixture: str, not_simulated: set[bytes]
) -> None:
    ours = render_telegram(profile, _meter_at(profile, MOMENTS["winter_day"]))
    theirs = (TELEGRAMS / fixture).read_bytes()
    assert ours.split(b"\r\n")[:2] == theirs.split(b"\r\n")[:2]
    assert _obis_codes(ours) == _obis_codes(theirs) - not_simulated


def test_luxembourg_lines_follow_the_specification_example() -> None:
    ours = render_telegram(
        "lu_encrypted", _meter_at("lu_encrypted", MOMENTS["winter_day"])
    )
    theirs = (TELEGRAMS / "luxembourg_spec_example.txt").read_bytes()
    assert ours.split(b"\r\n")[:2] == theirs.split(b"\r\n")[:2]
    other_channels = {
        c for c in _obis_codes(theirs) if c[:4] in {b"0-2:", b"0-3:", b"0-4:"}
    }
    assert _obis_codes(ours) == _obis_codes(theirs) - other_channels


def test_dst_flags_and_round_trip() -> None:
    first = _meter_at("nl_dsmr5_gas", MOMENTS["autumn_first_0230"]).snapshot()
    second = _meter_at("nl_dsmr5_gas", MOMENTS["autumn_second_0230"]).snapshot()
    assert timestamp(first.time, AMS) == "251026023000S"
    assert timestamp(second.time, AMS) == "251026023000W"
    assert b"0-0:1.0.0(251026023000S)" in render_telegram("nl_dsmr5_gas", first)
    assert b"0-0:1.0.0(251026023000W)" in render_telegram("nl_dsmr5_gas", second)
    spring = _meter_at("nl_dsmr5_gas", MOMENTS["after_spring_dst"]).snapshot()
    assert timestamp(spring.time, AMS) == "250330030001S"


def test_fixed_truncates_and_pads() -> None:
    assert fixed(Decimal("4.4269"), 6, 3) == "000004.426"
    assert fixed(Decimal("0.999"), 3, 0) == "000"
    assert fixed(Decimal("12.345"), 1, 2) == "12.34"


def test_text_message_is_hex_encoded() -> None:
    meter = _meter_at("nl_dsmr5_gas", MOMENTS["winter_day"])
    meter.text_message = "Storing verholpen"
    telegram = _parse("nl_dsmr5_gas", render_telegram("nl_dsmr5_gas", meter))
    assert _unhex(telegram.TEXT_MESSAGE.value) == "Storing verholpen"


def test_wrong_crc_is_rejected() -> None:
    meter = _meter_at("nl_dsmr5_gas", MOMENTS["winter_day"])
    good = render_telegram("nl_dsmr5_gas", meter)
    bad = render_telegram("nl_dsmr5_gas", meter, wrong_crc=True)
    assert bad[:-6] == good[:-6]
    assert bad[-6:-2] != good[-6:-2]
    with pytest.raises(InvalidChecksumError):
        _parse("nl_dsmr5_gas", bad)


def test_wrong_crc_without_checksum_changes_a_digit() -> None:
    meter = _meter_at("nl_dsmr22", MOMENTS["winter_day"])
    good = render_telegram("nl_dsmr22", meter)
    bad = render_telegram("nl_dsmr22", meter, wrong_crc=True)
    assert len(bad) == len(good)
    assert sum(a != b for a, b in zip(good, bad, strict=True)) == 1
    assert (
        _parse("nl_dsmr22", bad).ELECTRICITY_USED_TARIFF_1.value != meter.import_t1_kwh
    )


def test_non_ascii_keeps_a_valid_crc() -> None:
    meter = _meter_at("be_5b_gas_water", MOMENTS["winter_day"])
    data = render_telegram("be_5b_gas_water", meter, non_ascii=True)
    assert not data.isascii()
    assert sum(b >= 0x80 for b in data) == 1
    TelegramParser.validate_checksum(data.decode("latin-1"))
    with pytest.raises(UnicodeDecodeError):
        data.decode("ascii")


# ------------------------------------------------------------------ encryption


def _frames(data: bytes) -> list[str]:
    buffer = EncryptedTelegramBuffer()
    buffer.append(data)
    return list(buffer.get_all())


def test_encrypted_frame_layout() -> None:
    encryptor = DlmsEncryptor(invocation_counter=41)
    first = encryptor.encrypt(b"/hello!")
    second = encryptor.encrypt(b"/hello!")
    assert first[0] == 0xDB
    assert first[1] == 8
    assert first[2:10] == encryptor.system_title
    assert first[10] == 0x82
    assert int.from_bytes(first[11:13], "big") == len(first) - 13
    assert first[13] == 0x30
    assert int.from_bytes(first[14:18], "big") == 41
    assert int.from_bytes(second[14:18], "big") == 42
    assert len(first) == 18 + len(b"/hello!") + 12
    assert first[18:] != second[18:]


@pytest.mark.parametrize("authentication_key", [DEFAULT_AUTHENTICATION_KEY, "", None])
def test_encrypted_telegram_decrypts(authentication_key: str | None) -> None:
    source = TelegramSource(
        "lu_encrypted",
        seed=5,
        clock=ManualClock(MOMENTS["winter_day"] - timedelta(hours=1)),
    )
    source.clock = ManualClock(MOMENTS["winter_day"])
    stream = source.telegram() + source.telegram()
    frames = _frames(stream)
    assert len(frames) == 2
    parser = TelegramParser(telegram_specifications.MSN)
    snapshot = source.meter.snapshot()
    for frame in frames:
        telegram = parser.parse(
            frame,
            encryption_key=DEFAULT_ENCRYPTION_KEY,
            authentication_key=authentication_key,
            throw_ex=True,
        )
        check_lu_msn(telegram, snapshot)


def test_encrypted_telegram_with_custom_keys() -> None:
    key = "000102030405060708090A0B0C0D0E0F"
    auth = "F0E0D0C0B0A090807060504030201000"
    source = TelegramSource(
        "lu_encrypted",
        seed=5,
        clock=ManualClock(MOMENTS["summer_noon"]),
        encryption_key=key,
        authentication_key=auth,
    )
    (frame,) = _frames(source.telegram())
    parser = TelegramParser(telegram_specifications.MSN)
    telegram = parser.parse(frame, encryption_key=key, authentication_key=auth)
    check_lu_msn(telegram, source.meter.snapshot())
    with pytest.raises(DecryptionError):
        parser.parse(
            frame, encryption_key=key, authentication_key=DEFAULT_AUTHENTICATION_KEY
        )


@pytest.mark.parametrize("authentication_key", [DEFAULT_AUTHENTICATION_KEY, None])
def test_wrong_key_fails(authentication_key: str | None) -> None:
    source = TelegramSource(
        "lu_encrypted", seed=5, clock=ManualClock(MOMENTS["winter_day"])
    )
    (frame,) = _frames(source.telegram())
    parser = TelegramParser(telegram_specifications.MSN)
    with pytest.raises(DecryptionError):
        parser.parse(
            frame,
            encryption_key="FFEEDDCCBBAA99887766554433221100",
            authentication_key=authentication_key,
        )


def test_plain_buffer_finds_plain_telegrams() -> None:
    meter = _meter_at("nl_dsmr22", MOMENTS["winter_day"])
    buffer = TelegramBuffer()
    buffer.append(render_telegram("nl_dsmr22", meter).decode("ascii") * 2)
    assert len(list(buffer.get_all())) == 2

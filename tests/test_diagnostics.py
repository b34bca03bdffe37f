"""Diagnostics: what support gets, and that no key or meter id leaks."""

from __future__ import annotations

from collections.abc import Generator
import json
from unittest.mock import patch

from homeassistant.core import HomeAssistant
import pytest

from custom_components.slimme_meter.diagnostics import (
    async_get_config_entry_diagnostics,
    redact_telegram,
)

from .helpers import (
    AUTHENTICATION_KEY,
    ENCRYPTION_KEY,
    LUXEMBOURG,
    LUXEMBOURG_EQUIPMENT_ID,
    Q3D,
    V5,
    V5_EQUIPMENT_HEX,
    V5_EQUIPMENT_ID,
    bad_crc,
    encrypt,
    meter_entry,
    setup_meter,
    until,
)
from .server import TelegramServer

GAS_ID = "2222ABCD123456789"
GAS_HEX = "3232323241424344313233343536373839"


@pytest.fixture(autouse=True)
def fast_backoff() -> Generator[None]:
    with (
        patch("custom_components.slimme_meter.runtime.BACKOFF_INITIAL", 0.02),
        patch("custom_components.slimme_meter.runtime.BACKOFF_MAX", 0.08),
    ):
        yield


async def test_diagnostics_of_a_running_meter(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = meter_entry(server.port, options={"live_interval": 5})
    assert await setup_meter(hass, entry)
    runtime = entry.runtime_data
    await server.wait_client()
    await server.send(V5)
    await until(lambda: runtime.counters.received == 1)
    await server.send(bad_crc(V5))
    await until(lambda: runtime.counters.rejected == 1)
    server.on_connect = V5
    server.drop_clients()
    await until(lambda: runtime.counters.received == 2)

    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    dump = json.dumps(diagnostics)  # plain JSON, nothing else

    assert diagnostics["entry"] == {
        "data": {
            "connection": "network",
            "host": "127.0.0.1",
            "port": server.port,
            "specification": "5",
            "equipment_id": "**REDACTED**",
            "meter_key": "**REDACTED**",
        },
        "options": {"live_interval": 5},
        "unique_id": "**REDACTED**",
    }
    assert diagnostics["remote"] == {"state": "not_configured"}
    assert diagnostics["history"] is None  # no recorder in this test
    assert diagnostics["specification"] == "5"
    assert diagnostics["checksum"] == "crc16_arc"
    assert diagnostics["state"] == "connected"
    assert diagnostics["interval"] == round(runtime.reader.interval, 3)
    # The update intervals in force: the one set, and the default of the other.
    assert diagnostics["update_intervals"] == {"live": 5.0, "counter": 300.0}
    assert diagnostics["last_telegram"] == runtime.last_telegram.isoformat()
    assert diagnostics["counters"] == {
        "received": 2,
        "rejected": 1,
        "rejected_by_reason": {"checksum": 1},
        "lenient_lines": 0,
        "reconnects": 1,
    }
    history = diagnostics["connection_history"]
    assert [(h["state"], h["reason"]) for h in history] == [
        ("connected", None),
        ("disconnected", "connection closed"),
        ("connecting", None),
        ("connected", None),
    ]
    assert all(h["time"].endswith("+00:00") for h in history)
    assert diagnostics["mbus"] == [{"channel": 1, "type": 3, "unit": "m3"}]

    telegram = diagnostics["telegram"]
    assert telegram.startswith("/ISk5\\2MT382-1000\r\n")
    assert "0-0:96.1.1(**REDACTED**)\r\n" in telegram
    assert "0-1:96.1.0(**REDACTED**)\r\n" in telegram
    assert "1-0:1.7.0(00.244*kW)\r\n" in telegram
    assert "0-1:24.2.1(170102161005W)(00000.107*m3)\r\n" in telegram
    for secret in (V5_EQUIPMENT_ID, V5_EQUIPMENT_HEX, GAS_ID, GAS_HEX):
        assert secret not in dump
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_diagnostics_redact_keys(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = meter_entry(
        server.port,
        spec="luxembourg_msn",
        equipment_id=LUXEMBOURG_EQUIPMENT_ID,
        encryption_key=ENCRYPTION_KEY,
        authentication_key=AUTHENTICATION_KEY,
    )
    assert await setup_meter(hass, entry)
    await server.wait_client()
    await server.send(encrypt(LUXEMBOURG))
    await until(lambda: entry.runtime_data.counters.received == 1)

    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    dump = json.dumps(diagnostics)
    data = diagnostics["entry"]["data"]
    assert data["encryption_key"] == "**REDACTED**"
    assert data["authentication_key"] == "**REDACTED**"
    assert data["equipment_id"] == "**REDACTED**"
    assert diagnostics["specification"] == "luxembourg_msn"
    assert "0-0:42.0.0(**REDACTED**)" in diagnostics["telegram"]
    assert "1-0:1.7.0(00.005*kW)" in diagnostics["telegram"]
    lux_hex = LUXEMBOURG_EQUIPMENT_ID.encode().hex()
    for secret in (ENCRYPTION_KEY, AUTHENTICATION_KEY, LUXEMBOURG_EQUIPMENT_ID):
        assert secret not in dump
        assert secret.lower() not in dump
    assert lux_hex not in dump.lower()
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_diagnostics_before_any_telegram(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = meter_entry(server.port, equipment_id=None)
    assert await setup_meter(hass, entry)
    await server.wait_client()
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["entry"]["unique_id"] is None
    assert "equipment_id" not in diagnostics["entry"]["data"]
    assert diagnostics["state"] == "connecting"
    assert diagnostics["interval"] == 1.0
    assert diagnostics["update_intervals"] == {"live": 30.0, "counter": 300.0}
    assert diagnostics["last_telegram"] is None
    assert diagnostics["telegram"] is None
    assert diagnostics["mbus"] == []
    assert diagnostics["connection_history"] == []
    assert diagnostics["counters"] == {
        "received": 0,
        "rejected": 0,
        "rejected_by_reason": {},
        "lenient_lines": 0,
        "reconnects": 0,
    }
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_redact_telegram_lines(newline: str) -> None:
    raw = newline.join(
        [
            "/ESY5Q3DB1024 V3.04",
            "",
            "1-0:0.0.0*255(0272031312565)",
            "1-0:1.8.0*255(00052185.7825309*kWh)",
            "0-0:96.1.255*255(1ESY1313002565)",
            "0-0:96.1.4(50217)",
            "0-1:96.1.1(37464C4F32313139303333373333)",
            "",
        ]
    )
    redacted = redact_telegram(raw)
    assert redacted.split(newline) == [
        "/ESY5Q3DB1024 V3.04",
        "",
        "1-0:0.0.0*255(**REDACTED**)",
        "1-0:1.8.0*255(00052185.7825309*kWh)",
        "0-0:96.1.255*255(**REDACTED**)",
        "0-0:96.1.4(50217)",  # the P1 version, not an id
        "0-1:96.1.1(**REDACTED**)",
        "",
    ]


def test_redact_real_telegram_keeps_everything_else() -> None:
    raw = Q3D.decode("latin-1")
    raw = raw[: raw.rindex("!")]
    redacted = redact_telegram(raw)
    assert "0272031312565" not in redacted
    assert "1ESY1313002565" not in redacted
    assert redacted.count("**REDACTED**") == 2
    assert len(redacted.splitlines()) == len(raw.splitlines())

"""M-Bus devices: appear with the telegram, and may be removed once gone."""

from __future__ import annotations

import asyncio

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.slimme_meter import async_remove_config_entry_device
from custom_components.slimme_meter.const import DOMAIN

from .helpers import SHARED_TELEGRAMS, edit
from .server import TelegramServer

FLUVIUS = (SHARED_TELEGRAMS / "fluvius_v171_gas_water.txt").read_bytes()
WATER_LINES = (
    b"0-2:24.1.0(007)\r\n"
    b"0-2:96.1.1(3853414731323334353637383930)\r\n"
    b"0-2:24.2.1(200512134558S)(00872.234*m3)\r\n"
)


async def _received(hass: HomeAssistant, entry: MockConfigEntry, count: int) -> None:
    async with asyncio.timeout(5):
        while entry.runtime_data.counters.received < count:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await hass.async_block_till_done()


async def test_devices_follow_the_mbus(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        version=2,
        unique_id="1SAG3101021605",
        data={
            "connection": "network",
            "host": "127.0.0.1",
            "port": server.port,
            "specification": "belgium_5b",
            "equipment_id": "1SAG3101021605",
        },
        options={"counter_interval": 0},  # every register change at once
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await server.wait_client()

    # First only the gas meter; the water meter is plugged in later.
    await server.send(edit(FLUVIUS, (WATER_LINES, b"")))
    await _received(hass, entry, 1)
    registry = dr.async_get(hass)
    names = {
        d.name for d in dr.async_entries_for_config_entry(registry, entry.entry_id)
    }
    assert names == {"Electricity meter", "Gas meter"}
    assert hass.states.get("sensor.water_meter_water_consumption") is None

    await server.send(FLUVIUS)
    await _received(hass, entry, 2)
    assert hass.states.get("sensor.water_meter_water_consumption").state == "872.234"

    devices = {
        d.name: d for d in dr.async_entries_for_config_entry(registry, entry.entry_id)
    }
    assert devices["Water meter"].serial_number == "8SAG1234567890"
    # Devices still in the telegram cannot be removed.
    for name in ("Electricity meter", "Gas meter", "Water meter"):
        assert not await async_remove_config_entry_device(hass, entry, devices[name])

    # The water meter disappears again: now its device may be removed.
    await server.send(edit(FLUVIUS, (WATER_LINES, b"")))
    await _received(hass, entry, 3)
    assert hass.states.get("sensor.water_meter_water_consumption").state == "unknown"
    assert await async_remove_config_entry_device(hass, entry, devices["Water meter"])
    assert not await async_remove_config_entry_device(
        hass, entry, devices["Electricity meter"]
    )
    await hass.config_entries.async_unload(entry.entry_id)

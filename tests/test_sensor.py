"""Entity states for every sample telegram, as Home Assistant shows them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from unittest.mock import PropertyMock, patch

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.slimme_meter.const import DOMAIN
from custom_components.slimme_meter.p1.detect import classify
from custom_components.slimme_meter.p1.framing import QUIET_GAP, PlainFramer

from .helpers import FIXTURES, SHARED_TELEGRAMS
from .server import TelegramServer

SAMPLES = {
    "v5_plain_iskra_mt382": SHARED_TELEGRAMS / "v5_plain_iskra_mt382.txt",
    "v4_2_kaifa": SHARED_TELEGRAMS / "v4_2_kaifa.txt",
    "v2_2_iskra_mt382": SHARED_TELEGRAMS / "v2_2_iskra_mt382.txt",
    "fluvius_v171_gas_water": SHARED_TELEGRAMS / "fluvius_v171_gas_water.txt",
    "sweden_kamstrup_kam5": SHARED_TELEGRAMS / "sweden_kamstrup_kam5.txt",
    "q3d_easymeter": SHARED_TELEGRAMS / "q3d_easymeter_esy5q3db1024_com1.txt",
    "luxembourg_crc_fixed": FIXTURES / "luxembourg_spec_example_crc_fixed.txt",
    # Meters that write their telegrams their own way (tests/fixtures/INDEX.md)
    **{
        path.stem: path
        for path in sorted(FIXTURES.glob("*.txt"))
        if path.stem != "luxembourg_spec_example_crc_fixed"
    },
}


async def _load(
    hass: HomeAssistant, server: TelegramServer, telegram: bytes
) -> MockConfigEntry:
    framer = PlainFramer()
    # A telegram without '!' ends where the next begins, after a pause.
    frame = (framer.feed(telegram) or framer.feed(b"/", QUIET_GAP))[0]
    found = classify(frame)
    assert found is not None
    spec, snapshot = found
    entry = MockConfigEntry(
        domain=DOMAIN,
        version=2,
        unique_id=snapshot.equipment_id or "meter",
        data={
            "connection": "network",
            "host": "127.0.0.1",
            "port": server.port,
            "specification": spec.id,
            "equipment_id": snapshot.equipment_id,
        },
        title="Smart meter",
    )
    entry.add_to_hass(hass)
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await server.wait_client()
        await server.send(telegram)
        if b"!" not in telegram:
            await asyncio.sleep(QUIET_GAP * 1.2)
            await server.send(b"/")
        await _until(hass, lambda: entry.runtime_data.counters.received == 1)
    return entry


async def _until(hass: HomeAssistant, condition: Any) -> None:
    """Let the loop run until a condition holds (at most 5 s)."""
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await hass.async_block_till_done()


def _states(hass: HomeAssistant) -> dict[str, Any]:
    result = {}
    for state in sorted(hass.states.async_all("sensor"), key=lambda s: s.entity_id):
        if state.entity_id.endswith("last_telegram"):
            continue
        attrs = state.attributes
        result[state.entity_id] = {
            "state": state.state,
            **{
                key: attrs[key]
                for key in (
                    "unit_of_measurement",
                    "device_class",
                    "state_class",
                    "options",
                    "peaks",
                )
                if key in attrs
            },
        }
    return result


@pytest.mark.parametrize("name", sorted(SAMPLES))
async def test_entity_states(
    hass: HomeAssistant,
    server: TelegramServer,
    snapshot: SnapshotAssertion,
    name: str,
) -> None:
    entry = await _load(hass, server, SAMPLES[name].read_bytes())
    assert _states(hass) == snapshot(name=f"{name}-states")
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert sorted(
        (d.name, d.manufacturer, d.model, d.serial_number, d.sw_version)
        for d in devices
    ) == snapshot(name=f"{name}-devices")
    await hass.config_entries.async_unload(entry.entry_id)


async def test_v5_values(hass: HomeAssistant, server: TelegramServer) -> None:
    """Spot-check the mapping of a DSMR 5 telegram, value by value."""
    await _load(hass, server, SAMPLES["v5_plain_iskra_mt382"].read_bytes())
    expect = {
        "energy_import_tariff_1": "4.426",
        "energy_import_tariff_2": "2.399",
        "energy_export_tariff_1": "2.444",
        "energy_import_total": "6.825",
        "power_import": "0.244",
        "net_power": "0.244",
        "active_tariff": "normal",
        "voltage_phase_1": "230.0",
        "current_phase_3": "0.86",
    }
    for key, value in expect.items():
        assert hass.states.get(f"sensor.electricity_meter_{key}").state == value, key
    gas = hass.states.get("sensor.gas_meter_gas_consumption")
    assert gas.state == "0.107"
    assert gas.attributes["unit_of_measurement"] == "m³"
    assert gas.attributes["device_class"] == "gas"
    assert gas.attributes["state_class"] == "total_increasing"
    assert (
        hass.states.get("sensor.gas_meter_last_measurement").state
        == "2017-01-02T15:10:05+00:00"
    )


async def test_belgian_capacity_tariff(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    await _load(hass, server, SAMPLES["fluvius_v171_gas_water"].read_bytes())
    state = hass.states.get
    assert state("sensor.electricity_meter_current_average_demand").state == "2.351"
    assert state("sensor.electricity_meter_peak_demand_this_month").state == "2.589"
    assert (
        state("sensor.electricity_meter_peak_demand_this_month_time").state
        == "2020-05-09T11:45:58+00:00"
    )
    average = state("sensor.electricity_meter_average_monthly_peak_demand")
    assert average.state == "4.664"  # (3.695 + 5.980 + 4.318) / 3
    assert [peak["value"] for peak in average.attributes["peaks"]] == [
        3.695,
        5.98,
        4.318,
    ]
    assert state("sensor.electricity_meter_active_tariff").state == "day"
    assert state("sensor.water_meter_water_consumption").state == "872.234"
    assert state("sensor.gas_meter_gas_consumption").state == "112.384"


def _sample_files() -> list[Path]:
    files = sorted(SHARED_TELEGRAMS.glob("*.txt")) + sorted(FIXTURES.glob("*.txt"))
    return [path for path in files if path.is_file()]


@pytest.mark.parametrize("path", _sample_files(), ids=lambda path: path.stem)
def test_every_sample_decodes_or_is_rejected(path: Path) -> None:
    """Every sample telegram is read by some specification, or its CRC is bad."""
    framer = PlainFramer()
    frames = framer.feed(path.read_bytes()) or framer.feed(b"/", QUIET_GAP)
    assert len(frames) == 1
    found = classify(frames[0])
    if found is None:
        assert path.stem == "luxembourg_spec_example"  # its published CRC is wrong
        return
    spec, snapshot = found
    assert len(snapshot.objects) >= 8, spec.id


async def test_lines_read_leniently_are_counted(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = await _load(hass, server, SAMPLES["eon_hungary_ff_padding"].read_bytes())
    runtime = entry.runtime_data
    assert runtime.counters.lenient_lines == 2  # the header and the text message
    assert runtime.counters.rejected == 0
    assert runtime.reader.decoder.checksum == "crc16_arc"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_the_checksum_a_meter_uses_is_kept(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = await _load(hass, server, SAMPLES["holley_crc_x25"].read_bytes())
    assert entry.runtime_data.reader.decoder.checksum == "crc16_x25"
    await hass.config_entries.async_unload(entry.entry_id)

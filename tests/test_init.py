"""Setup, live values, unload and reload over a real loopback connection."""

from __future__ import annotations

from collections.abc import Generator
import socket
from unittest.mock import AsyncMock, patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import serialx

from custom_components.slimme_meter import (
    async_remove_config_entry_device,
    async_unload_entry,
)
from custom_components.slimme_meter.const import DOMAIN

from .helpers import (
    V5,
    V5_EQUIPMENT_ID,
    Pty,
    meter_entry,
    power,
    setup_meter,
    state_of,
    until,
)
from .server import TelegramServer

POWER = "sensor.electricity_meter_power_import"
GAS = "sensor.gas_meter_gas_consumption"


@pytest.fixture(autouse=True)
def fast_backoff() -> Generator[None]:
    with (
        patch("custom_components.slimme_meter.runtime.BACKOFF_INITIAL", 0.02),
        patch("custom_components.slimme_meter.runtime.BACKOFF_MAX", 0.08),
    ):
        yield


def _entry(port: int, spec: str = "5") -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        version=2,
        unique_id="K8EG004046395507",
        data={
            "connection": "network",
            "host": "127.0.0.1",
            "port": port,
            "specification": spec,
            "equipment_id": "K8EG004046395507",
        },
        title="Smart meter",
    )


async def test_setup_and_values(hass: HomeAssistant, server: TelegramServer) -> None:
    entry = _entry(server.port)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    await server.wait_client()
    await server.send(V5)
    await until(lambda: state_of(hass, POWER) is not None)
    assert state_of(hass, POWER) == "0.244"
    assert state_of(hass, GAS) == "0.107"
    assert await hass.config_entries.async_unload(entry.entry_id)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_setup_retries_when_the_bridge_refuses(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    port = _closed_port()
    entry = meter_entry(port)
    assert not await setup_meter(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert f"127.0.0.1:{port}" in (entry.reason or "")
    assert hass.states.async_all("sensor") == []


async def test_setup_retries_when_the_serial_port_is_missing(
    hass: HomeAssistant,
) -> None:
    entry = meter_entry(serial_port="/dev/serial/by-id/usb-no-such-cable")
    assert not await setup_meter(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert "/dev/serial/by-id/usb-no-such-cable" in (entry.reason or "")


async def test_setup_retries_when_the_serial_port_is_busy(
    hass: HomeAssistant,
) -> None:
    pty = Pty()
    try:
        entry = meter_entry(serial_port=pty.path)
        with patch(
            "serialx.open_serial_connection",
            side_effect=serialx.SerialException("port is locked"),
        ):
            assert not await setup_meter(hass, entry)
        assert entry.state is ConfigEntryState.SETUP_RETRY
        assert "port is locked" in (entry.reason or "")
    finally:
        pty.close()


async def test_a_set_up_failing_after_the_port_opened_releases_it(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = meter_entry(server.port)
    with patch(
        "custom_components.slimme_meter.MeterRuntime.async_configure_remote",
        side_effect=ConfigEntryNotReady("remote path not ready"),
    ):
        assert not await setup_meter(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    # The connection was opened, and closed again: the retry can open it.
    await until(lambda: server.disconnects == 1)
    assert server.connections == 1
    assert server.clients == 0


async def test_unload_stops_the_reader_and_reload_works(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    server.on_connect = V5
    entry = meter_entry(server.port)
    assert await setup_meter(hass, entry)
    await until(lambda: state_of(hass, POWER) == "0.244")
    registry = er.async_get(hass)
    entities = {
        e.entity_id for e in er.async_entries_for_config_entry(registry, entry.entry_id)
    }
    assert server.connections == 1
    runtime = entry.runtime_data

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    await until(lambda: server.disconnects == 1)
    assert server.clients == 0
    assert state_of(hass, POWER) == STATE_UNAVAILABLE
    assert runtime._task is None

    server.on_connect = power("01.500")
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    await until(lambda: state_of(hass, POWER) == "1.500")
    assert server.connections == 2

    server.on_connect = power("02.500")
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await until(lambda: state_of(hass, POWER) == "2.500")
    assert server.connections == 3
    await until(lambda: server.disconnects == 2)
    assert server.clients == 1
    assert {
        e.entity_id for e in er.async_entries_for_config_entry(registry, entry.entry_id)
    } == entities
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_options_apply_without_reconnecting(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = meter_entry(server.port, options={"live_interval": 5})
    assert await setup_meter(hass, entry)
    await server.wait_client()
    runtime = entry.runtime_data
    assert runtime.intervals == {"live": 5.0, "counter": 300.0}
    hass.config_entries.async_update_entry(
        entry, options={"live_interval": 0, "counter_interval": 60}
    )
    await hass.async_block_till_done()
    assert runtime.intervals == {"live": 0.0, "counter": 60.0}
    assert entry.runtime_data is runtime
    assert server.connections == 1
    assert server.disconnects == 0
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_platform_unload_failure_keeps_reading(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    server.on_connect = V5
    entry = meter_entry(server.port)
    assert await setup_meter(hass, entry)
    await until(lambda: state_of(hass, POWER) == "0.244")
    with patch.object(
        hass.config_entries, "async_unload_platforms", AsyncMock(return_value=False)
    ):
        assert not await async_unload_entry(hass, entry)
    assert entry.runtime_data._task is not None
    await server.send(power("00.900"))
    await until(lambda: state_of(hass, POWER) == "0.900")
    assert server.disconnects == 0
    assert await hass.config_entries.async_unload(entry.entry_id)
    await until(lambda: server.disconnects == 1)


async def test_serial_entry_through_a_pty(hass: HomeAssistant) -> None:
    pty = Pty()
    try:
        entry = meter_entry(serial_port=pty.path)
        assert await setup_meter(hass, entry)
        pty.write(V5)
        await until(lambda: state_of(hass, POWER) == "0.244")
        assert entry.runtime_data.snapshot.equipment_id == V5_EQUIPMENT_ID

        # Reload: the port is closed and opened again.
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        pty.write(power("00.333"))
        await until(lambda: state_of(hass, POWER) == "0.333")

        # The cable is pulled: entities become unavailable, setup stays loaded.
        pty.vanish()
        await until(lambda: state_of(hass, POWER) == STATE_UNAVAILABLE)
        assert entry.state is ConfigEntryState.LOADED
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        pty.close()


async def test_remove_only_devices_gone_from_the_telegram(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    server.on_connect = V5
    entry = meter_entry(server.port)
    assert await setup_meter(hass, entry)
    await until(lambda: state_of(hass, GAS) == "0.107")
    registry = dr.async_get(hass)
    devices = {
        ident: device
        for device in dr.async_entries_for_config_entry(registry, entry.entry_id)
        for domain, ident in device.identifiers
        if domain == DOMAIN
    }
    assert set(devices) == {entry.entry_id, f"{entry.entry_id}_mbus_1"}
    # The electricity meter and a gas meter that still reports stay.
    assert not await async_remove_config_entry_device(
        hass, entry, devices[entry.entry_id]
    )
    assert not await async_remove_config_entry_device(
        hass, entry, devices[f"{entry.entry_id}_mbus_1"]
    )
    # A meter on a channel the telegram no longer carries may go.
    gone = registry.async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, f"{entry.entry_id}_mbus_3")},
    )
    assert await async_remove_config_entry_device(hass, entry, gone)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_remove_device_before_any_telegram(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = meter_entry(server.port)
    assert await setup_meter(hass, entry)
    registry = dr.async_get(hass)
    gas = registry.async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, f"{entry.entry_id}_mbus_1")},
    )
    electricity = registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, entry.entry_id)}
    )
    assert await async_remove_config_entry_device(hass, entry, gas)
    assert not await async_remove_config_entry_device(hass, entry, electricity)
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize(
    ("stored", "migrated"),
    [("5B", "belgium_5b"), ("MSn", "luxembourg_msn"), ("2.2", "dsmr_2_2"), ("5", "5")],
)
async def test_entries_of_version_1_get_the_new_specification_ids(
    hass: HomeAssistant, server: TelegramServer, stored: str, migrated: str
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        version=1,
        unique_id="K8EG004046395507",
        data={
            "connection": "network",
            "host": "127.0.0.1",
            "port": server.port,
            "specification": stored,
            "equipment_id": "K8EG004046395507",
        },
        title="Smart meter",
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.version == 2
    assert entry.data["specification"] == migrated
    assert entry.data["port"] == server.port
    await hass.config_entries.async_unload(entry.entry_id)


async def test_an_entry_of_a_newer_release_is_left_alone(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        version=3,
        data={"connection": "network", "host": "127.0.0.1", "port": server.port},
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.MIGRATION_ERROR
    assert entry.version == 3

"""Setup, live values, unload and reload over a real loopback connection."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.slimme_meter.const import DOMAIN

from .conftest import SHARED_TELEGRAMS
from .server import TelegramServer

V5 = (SHARED_TELEGRAMS / "v5_plain_iskra_mt382.txt").read_bytes()


@pytest.fixture
async def server(socket_enabled: None) -> TelegramServer:
    srv = TelegramServer()
    await srv.start()
    yield srv
    await srv.stop()


def _entry(port: int, spec: str = "5") -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
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
    for _ in range(100):
        await hass.async_block_till_done()
        if hass.states.get("sensor.electricity_meter_power_import"):
            break
        await __import__("asyncio").sleep(0.01)
    states = {s.entity_id: s.state for s in hass.states.async_all("sensor")}
    print(states)
    assert states["sensor.electricity_meter_power_import"] == "0.244"
    assert await hass.config_entries.async_unload(entry.entry_id)

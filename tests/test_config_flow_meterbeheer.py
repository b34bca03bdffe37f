"""Linking Meterbeheer HUB: its feeds are the connections to pick."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from functools import partial

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.slimme_meter.remote.api import RemoteState
from simulators.meterbeheer import MeterbeheerSimulator
from simulators.p4 import DEFAULT_ELECTRICITY_EAN, DEFAULT_GAS_EAN
from simulators.telegram import render_telegram

from .remote_helpers import link_input, running
from .server import TelegramServer
from .test_config_flow import assert_form, assert_no_flows
from .test_config_flow_remote import (
    configure,
    point_labels,
    remote_form,
    unload,
    until_remote,
)

pytestmark = [pytest.mark.recorder, pytest.mark.usefixtures("fast_validation")]


@pytest.fixture
async def hub(socket_enabled: None) -> AsyncGenerator[MeterbeheerSimulator]:
    async with running(MeterbeheerSimulator(history_days=3)) as simulator:
        yield simulator


key_input = partial(link_input, provider="nl_meterbeheer")


async def test_config_flow_links_the_hub_after_its_errors(
    hass: HomeAssistant, server: TelegramServer, hub: MeterbeheerSimulator
) -> None:
    telegram = render_telegram("nl_dsmr5_gas", hub.history.meter)
    result = await remote_form(hass, server, telegram)
    flow_id = result["flow_id"]
    result = await configure(hass, flow_id, key_input(hub, api_key="wrong"))
    assert_form(result, "remote", {"base": "invalid_api_key"})
    hub.fail(503)
    result = await configure(hass, flow_id, key_input(hub))
    assert_form(result, "remote", {"base": "remote_unreachable"})
    result = await configure(hass, flow_id, key_input(hub))
    assert_form(result, "remote_points", None)
    assert point_labels(result) == {
        DEFAULT_ELECTRICITY_EAN: f"electricity {DEFAULT_ELECTRICITY_EAN} (1234 AB 1)",
        DEFAULT_GAS_EAN: f"gas {DEFAULT_GAS_EAN} (1234 AB 1)",
    }
    result = await configure(
        hass, flow_id, {"eans": [DEFAULT_ELECTRICITY_EAN, DEFAULT_GAS_EAN]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"] == {
        "remote": {
            "provider": "nl_meterbeheer",
            "api_key": "test-key",
            "base_url": hub.url,
            "eans": [DEFAULT_ELECTRICITY_EAN, DEFAULT_GAS_EAN],
        }
    }
    entry = result["result"]
    assert_no_flows(hass)
    await until_remote(entry, RemoteState.ACTIVE)
    assert entry.runtime_data.remote.readings_imported > 0
    await unload(hass, entry)

"""Linking the remote path: config flow, options flow and the API-key reauth.

A loopback P1 meter and the simulated consent API (simulators/p4.py) stand in
for the real ones; the recorder runs, so a linked entry starts its remote path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
import json
from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant import config_entries
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, section
from homeassistant.helpers import config_validation as cv
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.slimme_meter.config_flow import valid_ean
from custom_components.slimme_meter.const import DOMAIN
from custom_components.slimme_meter.p1.reader import LinkState
from custom_components.slimme_meter.remote.api import RemoteState
from custom_components.slimme_meter.remote.p4 import DEFAULT_BASE_URL
from custom_components.slimme_meter.remote.registry import PROVIDERS
from simulators.p4 import (
    DEFAULT_ELECTRICITY_EAN,
    DEFAULT_GAS_EAN,
    VARIANTS,
    P4Simulator,
)
from simulators.telegram import render_telegram

from .helpers import meter_entry, until
from .p1_helpers import V5, V5_ID, closed_port
from .remote_helpers import link_input, served_values
from .server import TelegramServer
from .test_config_flow import assert_form, assert_no_flows, network_input

FLOW = "custom_components.slimme_meter.config_flow"
STRINGS = Path(__file__).parents[1] / "custom_components/slimme_meter/strings.json"
ELECTRICITY = DEFAULT_ELECTRICITY_EAN
GAS = DEFAULT_GAS_EAN
ADDRESS = "Simulatiestraat 1, 1234 AB Teststad"

type Result = dict[str, Any]

pytestmark = [pytest.mark.recorder, pytest.mark.usefixtures("fast_validation")]


def own_telegram(sim: P4Simulator) -> bytes:
    """A telegram of the simulated household's own meter."""
    return render_telegram("nl_dsmr5_gas", sim.meter)


def remote_meter(sim: P4Simulator, ean: str = ELECTRICITY) -> str:
    meter_id = sim.metering_point(ean)["MeterId"]
    assert isinstance(meter_id, str)
    return meter_id


def fields(result: Result) -> list[str]:
    return [str(key) for key in result["data_schema"].schema]


def field_default(result: Result, name: str) -> Any:
    for key in result["data_schema"].schema:
        if str(key) == name:
            return key.default()
    raise AssertionError(f"no field {name}")


def form_section(result: Result, name: str) -> section:
    for key, value in result["data_schema"].schema.items():
        if str(key) == name:
            assert isinstance(value, section)
            return value
    raise AssertionError(f"no section {name}")


def serialize(schema: Any) -> list[dict[str, Any]]:
    """Return a form's fields the way Home Assistant sends them to the frontend."""
    try:
        import probatio
    except ImportError:  # Home Assistant before 2026.10
        import voluptuous_serialize

        return list(
            voluptuous_serialize.convert(schema, custom_serializer=cv.custom_serializer)
        )
    return list(probatio.to_field_list(schema, custom_serializer=cv.custom_serializer))


def suggested(result: Result) -> dict[str, Any]:
    """Return the values a form shows filled in, those of its sections nested."""
    values: dict[str, Any] = {}
    for key, value in result["data_schema"].schema.items():
        if isinstance(value, section):
            values[str(key)] = suggested({"data_schema": value.schema})
        elif key.description and "suggested_value" in key.description:
            values[str(key)] = key.description["suggested_value"]
    return values


def point_labels(result: Result) -> dict[str, str]:
    (selector,) = result["data_schema"].schema.values()
    assert selector.config["multiple"] is True
    return {option["value"]: option["label"] for option in selector.config["options"]}


async def configure(hass: HomeAssistant, flow_id: str, user_input: Any) -> Result:
    return await hass.config_entries.flow.async_configure(flow_id, user_input)


async def offer(
    hass: HomeAssistant,
    server: TelegramServer,
    telegram: bytes,
) -> Result:
    """Run the local steps of the config flow up to the remote offer."""
    server.on_connect = telegram
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    flow_id = result["flow_id"]
    result = await configure(hass, flow_id, {"next_step_id": "network"})
    result = await configure(hass, flow_id, network_input(server.port))
    assert_form(result, "confirm", None)
    result = await configure(hass, flow_id, {})
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "remote_offer"
    assert result["menu_options"] == ["remote", "finish"]
    return result


async def remote_form(
    hass: HomeAssistant,
    server: TelegramServer,
    telegram: bytes,
) -> Result:
    """Run the config flow up to the form asking for the API key."""
    result = await offer(hass, server, telegram)
    result = await configure(hass, result["flow_id"], {"next_step_id": "remote"})
    assert_form(result, "remote", {})
    return result


async def unload(hass: HomeAssistant, entry: config_entries.ConfigEntry) -> None:
    await hass.async_block_till_done()
    if entry.state is ConfigEntryState.LOADED:
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


async def until_remote(entry: Any, state: RemoteState) -> None:
    """Wait until the entry's remote path reaches a state."""
    await until(
        lambda: (
            entry.runtime_data.remote is not None
            and entry.runtime_data.remote.state is state
        ),
        timeout=10,
    )


# --------------------------------------------------------------------------
# Config flow


async def test_finish_creates_entry_without_remote(
    hass: HomeAssistant, server: TelegramServer, sim: P4Simulator
) -> None:
    result = await offer(hass, server, own_telegram(sim))
    result = await configure(hass, result["flow_id"], {"next_step_id": "finish"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Iskraemeco MT382-1000"
    assert result["data"]["equipment_id"] == sim.meter.equipment_id
    entry = result["result"]
    assert entry.options == {}
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.remote is None
    assert entry.runtime_data.remote_state is RemoteState.NOT_CONFIGURED
    assert sim.requests == []
    await unload(hass, entry)
    assert_no_flows(hass)


async def test_remote_links_matching_meter(
    hass: HomeAssistant, server: TelegramServer, sim: P4Simulator
) -> None:
    result = await remote_form(hass, server, own_telegram(sim))
    flow_id = result["flow_id"]
    assert fields(result) == ["provider", "api_key", "advanced"]
    assert field_default(result, "provider") == "nl_p4"

    # Blanks around the key and a slash after the address are left out.
    result = await configure(
        hass, flow_id, link_input(sim, api_key=" test-key ", base_url=f"{sim.url}/")
    )
    assert_form(result, "remote_points", None)
    assert sim.requests[-1].path == "/api/v5/meteringpoints/"
    assert sim.requests[-1].api_key == "test-key"
    assert point_labels(result) == {
        ELECTRICITY: f"electricity {ELECTRICITY} ({ADDRESS}) - {remote_meter(sim)}",
        GAS: f"gas {GAS} ({ADDRESS}) - {remote_meter(sim, GAS)}",
    }
    assert field_default(result, "eans") == [ELECTRICITY, GAS]

    result = await configure(hass, flow_id, {"eans": [ELECTRICITY, GAS]})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["equipment_id"] == sim.meter.equipment_id
    assert result["options"] == {
        "remote": {
            "provider": "nl_p4",
            "api_key": "test-key",
            "base_url": sim.url,
            "eans": [ELECTRICITY, GAS],
        }
    }
    entry = result["result"]
    assert entry.options == result["options"]
    assert_no_flows(hass)

    # The new entry reads the P1 port and imports the history.
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    await until_remote(entry, RemoteState.ACTIVE)
    runtime = entry.runtime_data
    assert runtime.remote.eans == [ELECTRICITY, GAS]
    assert runtime.remote.readings_imported > 0
    await until(lambda: runtime.state is LinkState.CONNECTED)
    assert runtime.active_path == "local_and_remote"
    await unload(hass, entry)


async def test_remote_points_pick_and_plain_labels(
    hass: HomeAssistant, server: TelegramServer, sim: P4Simulator
) -> None:
    """Points without address or meter number; other products are left out."""
    result = await remote_form(hass, server, V5)
    flow_id = result["flow_id"]

    def bare(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
        heat = {**points[0], "Ean": "871687120000000032", "Product": "Heat"}
        return [{**point, "Address": None, "MeterId": None} for point in points] + [
            heat
        ]

    sim.mangle(bare)
    result = await configure(hass, flow_id, link_input(sim))
    assert_form(result, "remote_points", None)
    assert point_labels(result) == {
        ELECTRICITY: f"electricity {ELECTRICITY}",
        GAS: f"gas {GAS}",
    }
    # Without a meter number there is nothing to compare with the P1 meter.
    result = await configure(hass, flow_id, {"eans": [GAS]})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"]["remote"]["eans"] == [GAS]
    assert "trusted_meters" not in result["options"]["remote"]
    await unload(hass, result["result"])


async def test_gas_point_of_another_meter_needs_no_consent(
    hass: HomeAssistant, server: TelegramServer, sim: P4Simulator
) -> None:
    """Only the electricity point's meter is the P1 meter."""
    result = await remote_form(hass, server, own_telegram(sim))
    flow_id = result["flow_id"]
    result = await configure(hass, flow_id, link_input(sim))
    result = await configure(hass, flow_id, {"eans": [GAS]})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"]["remote"]["eans"] == [GAS]
    await unload(hass, result["result"])


def _closed(sim: P4Simulator) -> dict[str, str]:
    return {"base_url": f"http://127.0.0.1:{closed_port()}"}


def _no_change(sim: P4Simulator) -> dict[str, str]:
    return {}


FAULTS: dict[
    str,
    tuple[Callable[[P4Simulator], Any], Callable[[P4Simulator], dict[str, str]], str],
] = {
    "refused_401": (lambda sim: sim.refuse(1, 401), _no_change, "invalid_api_key"),
    "refused_403": (lambda sim: sim.refuse(1, 403), _no_change, "invalid_api_key"),
    "wrong_key": (
        lambda sim: None,
        lambda sim: {"api_key": "another-key"},
        "invalid_api_key",
    ),
    "closed_port": (lambda sim: None, _closed, "remote_unreachable"),
    "unavailable": (lambda sim: sim.unavailable(1), _no_change, "remote_unreachable"),
    "rate_limited": (lambda sim: sim.rate_limit(1), _no_change, "remote_unreachable"),
}


@pytest.mark.parametrize("case", FAULTS)
async def test_remote_errors_then_success(
    hass: HomeAssistant, server: TelegramServer, sim: P4Simulator, case: str
) -> None:
    """Each error keeps the flow on the form; the next try links."""
    fault, wrong, error = FAULTS[case]
    result = await remote_form(hass, server, own_telegram(sim))
    flow_id = result["flow_id"]
    fault(sim)
    user_input = link_input(sim, **wrong(sim))
    result = await configure(hass, flow_id, user_input)
    assert_form(result, "remote", {"base": error})
    assert suggested(result) == user_input

    result = await configure(hass, flow_id, link_input(sim))
    assert_form(result, "remote_points", None)
    result = await configure(hass, flow_id, {"eans": [ELECTRICITY]})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"]["remote"] == {
        "provider": "nl_p4",
        "api_key": "test-key",
        "base_url": sim.url,
        "eans": [ELECTRICITY],
    }
    await unload(hass, result["result"])
    assert_no_flows(hass)


async def test_remote_mismatch_needs_consent(
    hass: HomeAssistant, server: TelegramServer, sim: P4Simulator
) -> None:
    """The consent service's meter is not the one on the P1 port."""
    result = await remote_form(hass, server, V5)
    flow_id = result["flow_id"]
    result = await configure(hass, flow_id, link_input(sim))
    result = await configure(hass, flow_id, {"eans": [ELECTRICITY, GAS]})
    assert_form(result, "remote_mismatch", {})
    assert result["description_placeholders"] == {
        "remote_meter": remote_meter(sim),
        "local_meter": V5_ID,
    }
    assert field_default(result, "confirm") is False

    result = await configure(hass, flow_id, {"confirm": False})
    assert_form(result, "remote_mismatch", {"base": "confirm_required"})

    result = await configure(hass, flow_id, {"confirm": True})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["equipment_id"] == V5_ID
    assert result["options"]["remote"] == {
        "provider": "nl_p4",
        "api_key": "test-key",
        "base_url": sim.url,
        "eans": [ELECTRICITY, GAS],
        "trusted_meters": [remote_meter(sim)],
    }
    entry = result["result"]
    assert_no_flows(hass)

    # Trusted: the history is imported although the meters differ.
    await hass.async_block_till_done()
    await until_remote(entry, RemoteState.ACTIVE)
    assert entry.runtime_data.remote.mismatched_meter is None
    assert entry.runtime_data.remote.readings_imported > 0
    await unload(hass, entry)


async def test_base_url_in_a_collapsed_section(
    hass: HomeAssistant, server: TelegramServer, sim: P4Simulator
) -> None:
    """The address is always there, folded away under Advanced, with the default."""
    result = await remote_form(hass, server, own_telegram(sim))
    advanced = form_section(result, "advanced")
    assert advanced.options == {"collapsed": True}
    assert [str(key) for key in advanced.schema.schema] == ["base_url"]
    (key,) = advanced.schema.schema
    assert key.default() == DEFAULT_BASE_URL == "https://p4.smartdatasolutions.eu"
    # What the frontend gets: a folded section holding the field and its default.
    serialized = serialize(result["data_schema"])
    assert [field["name"] for field in serialized] == [
        "provider",
        "api_key",
        "advanced",
    ]
    assert serialized[2]["type"] == "expandable"
    assert serialized[2]["required"] is True
    assert serialized[2]["expanded"] is False
    assert [
        (field["name"], field.get("default")) for field in serialized[2]["schema"]
    ] == [("base_url", DEFAULT_BASE_URL)]
    # The section and its field are labelled.
    strings = json.loads(STRINGS.read_text(encoding="utf-8"))
    for kind in ("config", "options"):
        labels = strings[kind]["step"]["remote"]["sections"]["advanced"]
        assert labels["name"] == "Advanced"
        assert set(labels["data"]) == set(labels["data_description"]) == {"base_url"}
    hass.config_entries.flow.async_abort(result["flow_id"])

    own = replace(PROVIDERS["nl_p4"], default_base_url=sim.url)
    with patch.dict(PROVIDERS, {"nl_p4": own}):
        result = await remote_form(hass, server, own_telegram(sim))
        flow_id = result["flow_id"]
        # The section left empty: the form's default address.
        wrong_key = {"provider": "nl_p4", "api_key": "wrong", "advanced": {}}
        result = await configure(hass, flow_id, wrong_key)
        assert_form(result, "remote", {"base": "invalid_api_key"})
        assert sim.requests[-1].path == "/api/v5/meteringpoints/"
        assert suggested(result) == {
            "provider": "nl_p4",
            "api_key": "wrong",
            "advanced": {"base_url": sim.url},
        }
        # A refused address opens the section, showing what was entered.
        result = await configure(hass, flow_id, link_input(sim, base_url="ftp://p4"))
        assert_form(result, "remote", {"advanced": "invalid_url"})
        assert form_section(result, "advanced").options == {"collapsed": False}
        assert suggested(result)["advanced"] == {"base_url": "ftp://p4"}
        result = await configure(
            hass, flow_id, {"provider": "nl_p4", "api_key": "test-key", "advanced": {}}
        )
        assert_form(result, "remote_points", None)
    result = await configure(hass, flow_id, {"eans": [ELECTRICITY]})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"]["remote"]["base_url"] == sim.url
    await unload(hass, result["result"])


# --------------------------------------------------------------------------
# Options flow


def linked_options(sim: P4Simulator, **changes: Any) -> dict[str, Any]:
    return {
        "provider": "nl_p4",
        "api_key": "test-key",
        "base_url": sim.url,
        "eans": [ELECTRICITY, GAS],
    } | changes


async def setup_entry(
    hass: HomeAssistant,
    server: TelegramServer,
    sim: P4Simulator,
    options: dict[str, Any] | None = None,
) -> MockConfigEntry:
    """Set up the household's meter, reading the P1 port."""
    server.on_connect = own_telegram(sim)
    entry = meter_entry(server.port, equipment_id=sim.meter.equipment_id)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options=options or {})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await until(lambda: entry.runtime_data.state is LinkState.CONNECTED)
    return entry


async def options_menu(hass: HomeAssistant, entry: MockConfigEntry) -> Result:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "init"
    assert result["menu_options"] == [
        "update_policy",
        "remote_manage",
        "import_history",
        "costs",
    ]
    return result


async def options(hass: HomeAssistant, flow_id: str, user_input: Any) -> Result:
    return await hass.config_entries.options.async_configure(flow_id, user_input)


async def test_options_link_remote_without_reconnecting(
    hass: HomeAssistant, server: TelegramServer, sim: P4Simulator
) -> None:
    entry = await setup_entry(hass, server, sim, {"live_interval": 5})
    runtime = entry.runtime_data
    assert runtime.remote is None

    result = await options_menu(hass, entry)
    flow_id = result["flow_id"]
    # Not linked yet: straight to the key.
    result = await options(hass, flow_id, {"next_step_id": "remote_manage"})
    assert_form(result, "remote", {})
    assert fields(result) == ["provider", "api_key", "advanced"]
    assert form_section(result, "advanced").options == {"collapsed": True}
    result = await options(hass, flow_id, link_input(sim, api_key="wrong"))
    assert_form(result, "remote", {"base": "invalid_api_key"})
    result = await options(hass, flow_id, link_input(sim))
    assert_form(result, "remote_points", None)
    result = await options(hass, flow_id, {"eans": [ELECTRICITY, GAS]})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {"live_interval": 5, "remote": linked_options(sim)}
    await hass.async_block_till_done()

    # Same runtime, same P1 connection: only the remote path started.
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is runtime
    await until_remote(entry, RemoteState.ACTIVE)
    assert runtime.remote_options == linked_options(sim)
    assert runtime.intervals["live"] == 5
    assert server.connections == 1
    assert runtime.state is LinkState.CONNECTED
    await unload(hass, entry)
    assert hass.config_entries.options.async_progress() == []


async def test_options_link_asks_consent_for_another_meter(
    hass: HomeAssistant, sim: P4Simulator
) -> None:
    entry = meter_entry(1)  # equipment id V5_ID; not set up
    entry.add_to_hass(hass)
    result = await options_menu(hass, entry)
    flow_id = result["flow_id"]
    result = await options(hass, flow_id, {"next_step_id": "remote_manage"})
    result = await options(hass, flow_id, link_input(sim))
    result = await options(hass, flow_id, {"eans": [ELECTRICITY]})
    assert_form(result, "remote_mismatch", {})
    assert result["description_placeholders"] == {
        "remote_meter": remote_meter(sim),
        "local_meter": V5_ID,
    }
    result = await options(hass, flow_id, {"confirm": False})
    assert_form(result, "remote_mismatch", {"base": "confirm_required"})
    result = await options(hass, flow_id, {"confirm": True})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        "remote": linked_options(
            sim, eans=[ELECTRICITY], trusted_meters=[remote_meter(sim)]
        )
    }


async def test_options_update_policy_keeps_remote(
    hass: HomeAssistant, server: TelegramServer, sim: P4Simulator
) -> None:
    entry = await setup_entry(hass, server, sim, {"remote": linked_options(sim)})
    await until_remote(entry, RemoteState.ACTIVE)
    remote = entry.runtime_data.remote

    result = await options_menu(hass, entry)
    result = await options(hass, result["flow_id"], {"next_step_id": "update_policy"})
    result = await options(
        hass, result["flow_id"], {"live_interval": 10, "counter_interval": 0}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        "remote": linked_options(sim),
        "live_interval": 10,
        "counter_interval": 0,
    }
    await hass.async_block_till_done()
    assert entry.runtime_data.intervals == {"live": 10.0, "counter": 0.0}
    assert entry.runtime_data.remote is remote  # not restarted
    assert remote.state is RemoteState.ACTIVE
    await unload(hass, entry)


async def test_options_relink_and_disable(
    hass: HomeAssistant, server: TelegramServer, sim: P4Simulator
) -> None:
    entry = await setup_entry(
        hass, server, sim, {"counter_interval": 60, "remote": linked_options(sim)}
    )
    runtime = entry.runtime_data
    await until_remote(entry, RemoteState.ACTIVE)
    first = runtime.remote

    # Linked: a menu to link again or switch off.
    result = await options_menu(hass, entry)
    flow_id = result["flow_id"]
    result = await options(hass, flow_id, {"next_step_id": "remote_manage"})
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "remote_manage"
    assert result["menu_options"] == ["remote", "remote_disable"]
    result = await options(hass, flow_id, {"next_step_id": "remote"})
    assert_form(result, "remote", {})
    # Linking again starts from the address in use, not the service's default.
    advanced = form_section(result, "advanced")
    assert advanced.schema({}) == {"base_url": sim.url}
    sim.api_key = "second-key"
    result = await options(hass, flow_id, link_input(sim, api_key="second-key"))
    result = await options(hass, flow_id, {"eans": [ELECTRICITY]})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        "counter_interval": 60,
        "remote": linked_options(sim, api_key="second-key", eans=[ELECTRICITY]),
    }
    await hass.async_block_till_done()
    assert entry.runtime_data is runtime
    assert runtime.remote is not first
    assert runtime.remote is not None
    assert runtime.remote.eans == [ELECTRICITY]
    await until_remote(entry, RemoteState.ACTIVE)
    assert sim.requests[-1].api_key == "second-key"

    # Switch off: the remote path stops, P1 keeps running.
    result = await options_menu(hass, entry)
    flow_id = result["flow_id"]
    result = await options(hass, flow_id, {"next_step_id": "remote_manage"})
    result = await options(hass, flow_id, {"next_step_id": "remote_disable"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {"counter_interval": 60}
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is runtime
    assert runtime.remote is None
    assert runtime.remote_options is None
    assert runtime.remote_state is RemoteState.NOT_CONFIGURED
    assert runtime.active_path == "local_only"
    assert server.connections == 1
    await unload(hass, entry)


# --------------------------------------------------------------------------
# A new API key


async def test_refused_key_asks_for_a_new_one(
    hass: HomeAssistant, server: TelegramServer, sim: P4Simulator
) -> None:
    """The service refuses the key: the runtime starts the reauth flow."""
    entry = await setup_entry(
        hass, server, sim, {"live_interval": 1, "remote": linked_options(sim)}
    )
    await until_remote(entry, RemoteState.ACTIVE)
    sim.api_key = "new-key"
    entry.runtime_data.remote.request_sync()
    await until_remote(entry, RemoteState.AUTH_FAILED)
    await hass.async_block_till_done()

    (flow,) = hass.config_entries.flow.async_progress()
    assert flow["context"]["source"] == config_entries.SOURCE_REAUTH
    assert flow["step_id"] == "reauth_remote"
    result = await configure(hass, flow["flow_id"], None)
    flow_id = result["flow_id"]
    assert_form(result, "reauth_remote", {})
    assert result["description_placeholders"]["meter"] == entry.title

    result = await configure(hass, flow_id, {"api_key": "test-key"})
    assert_form(result, "reauth_remote", {"base": "invalid_api_key"})
    result = await configure(hass, flow_id, {"api_key": " new-key "})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.options == {
        "live_interval": 1,
        "remote": linked_options(sim, api_key="new-key"),
    }
    # The remote path runs again with the new key; P1 was never touched.
    await hass.async_block_till_done()
    await until_remote(entry, RemoteState.ACTIVE)
    assert sim.requests[-1].api_key == "new-key"
    assert server.connections == 1
    assert_no_flows(hass)
    await unload(hass, entry)


async def test_reauth_api_key_of_an_entry_not_loaded(
    hass: HomeAssistant, sim: P4Simulator
) -> None:
    entry = meter_entry(1)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, options={"remote": linked_options(sim)}
    )
    entry.async_start_reauth(hass, data={**entry.data, "reauth": "api_key"})
    await hass.async_block_till_done()
    (flow,) = hass.config_entries.flow.async_progress()
    assert flow["step_id"] == "reauth_remote"
    flow_id = flow["flow_id"]

    sim.unavailable(1)
    result = await configure(hass, flow_id, {"api_key": "test-key"})
    assert_form(result, "reauth_remote", {"base": "remote_unreachable"})
    sim.api_key = "other-key"
    result = await configure(hass, flow_id, {"api_key": "other-key"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.options == {"remote": linked_options(sim, api_key="other-key")}
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert_no_flows(hass)


async def test_reauth_after_remote_was_switched_off(
    hass: HomeAssistant, sim: P4Simulator
) -> None:
    """The user switched history import off before entering a new key."""
    entry = meter_entry(1)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, options={"live_interval": 1, "remote": linked_options(sim)}
    )
    entry.async_start_reauth(hass, data={**entry.data, "reauth": "api_key"})
    await hass.async_block_till_done()
    (flow,) = hass.config_entries.flow.async_progress()
    assert flow["step_id"] == "reauth_remote"

    hass.config_entries.async_update_entry(entry, options={"live_interval": 1})
    result = await configure(hass, flow["flow_id"], {"api_key": "test-key"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "remote_not_linked"
    assert entry.options == {"live_interval": 1}
    assert sim.requests == []
    assert_no_flows(hass)


UNUSABLE_LISTS: dict[str, tuple[Callable[[P4Simulator], Any], str]] = {
    "malformed": (lambda sim: sim.malformed(1), "unexpected_answer"),
    "not_found": (
        lambda sim: sim.mangle(lambda points: {"Id": 3}),
        "unexpected_answer",
    ),
    "no_points": (lambda sim: sim.mangle(lambda points: []), "no_metering_points"),
    "only_other_products": (
        lambda sim: sim.mangle(
            lambda points: [{**point, "Product": "Heat"} for point in points]
        ),
        "no_metering_points",
    ),
}


@pytest.mark.parametrize("case", UNUSABLE_LISTS)
async def test_unusable_list_lets_the_user_type_the_ean(
    hass: HomeAssistant, server: TelegramServer, sim: P4Simulator, case: str
) -> None:
    """An empty or unreadable list: say so truly, and take the EAN by hand."""
    fault, error = UNUSABLE_LISTS[case]
    result = await remote_form(hass, server, own_telegram(sim))
    flow_id = result["flow_id"]
    fault(sim)
    result = await configure(hass, flow_id, link_input(sim))
    assert_form(result, "remote_manual", {"base": error})
    if error == "unexpected_answer":
        assert "/api/v5/meteringpoints/" in result["description_placeholders"]["reason"]
        assert "test-key" not in result["description_placeholders"]["reason"]

    result = await configure(
        hass, flow_id, {"electricity_ean": "871687120000000011", "gas_ean": "12345"}
    )
    assert_form(result, "remote_manual", {"gas_ean": "invalid_ean"})
    result = await configure(hass, flow_id, {"electricity_ean": "871687120000000018"})
    assert_form(result, "remote_manual", {"electricity_ean": "invalid_ean"})
    result = await configure(
        hass,
        flow_id,
        {"electricity_ean": "8716 8712 0000 0000 11", "gas_ean": "871687120000000028"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"]["remote"]["eans"] == [
        "871687120000000011",
        "871687120000000028",
    ]
    await unload(hass, result["result"])
    assert_no_flows(hass)


@pytest.mark.parametrize(
    ("ean", "valid"),
    [
        ("871687120000000011", True),
        ("871687120000000028", True),
        ("871687120000000018", False),
        ("87168712000000001", False),
        ("87168712000000001a", False),
    ],
)
def test_ean_check_digit(ean: str, valid: bool) -> None:
    assert valid_ean(ean) is valid


@pytest.mark.parametrize(
    "variants",
    [{name} for name in VARIANTS] + [set(VARIANTS)],
    ids=[*VARIANTS, "all"],
)
async def test_every_variant_links_and_imports(
    hass: HomeAssistant, server: TelegramServer, sim: P4Simulator, variants: set[str]
) -> None:
    """Whatever accepted shape the service answers in: linked, and all imported."""
    sim.variants = variants
    result = await remote_form(hass, server, own_telegram(sim))
    flow_id = result["flow_id"]
    result = await configure(hass, flow_id, link_input(sim))
    assert_form(result, "remote_points", None)
    assert point_labels(result) == {
        ELECTRICITY: f"electricity {ELECTRICITY} ({ADDRESS}) - {remote_meter(sim)}",
        GAS: f"gas {GAS} ({ADDRESS}) - {remote_meter(sim, GAS)}",
    }
    result = await configure(hass, flow_id, {"eans": [ELECTRICITY, GAS]})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    await hass.async_block_till_done()
    await until_remote(entry, RemoteState.ACTIVE)
    history = entry.runtime_data.history
    for series, values in served_values(sim).items():
        held = {
            hour: value for hour, (value, _) in history.series[series].values.items()
        }
        assert {hour: held[hour] for hour in values} == values
    await unload(hass, entry)

"""Linking Leneda: the config flow, the options flow and the key reauth.

Every error of the Leneda step with its recovery, against the Leneda
simulator on loopback; the meter on the P1 port is a loopback server.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from functools import partial
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.slimme_meter.remote.api import RemoteState
from custom_components.slimme_meter.remote.leneda import DEFAULT_BASE_URL
from simulators.leneda import (
    CODE_EXPORT,
    CODE_GAS,
    CODE_IMPORT,
    DEFAULT_ENERGY_ID,
    DEFAULT_POD,
    GAS_POD,
    PRODUCTION_POD,
    LenedaSimulator,
)
from simulators.telegram import render_telegram

from .helpers import until
from .remote_helpers import link_input, running
from .server import TelegramServer
from .test_config_flow import assert_form, assert_no_flows
from .test_config_flow_remote import (
    configure,
    fields,
    options,
    options_menu,
    remote_form,
    setup_entry,
    unload,
    until_remote,
)

pytestmark = [pytest.mark.recorder, pytest.mark.usefixtures("fast_validation")]


@pytest.fixture
async def leneda(socket_enabled: None) -> AsyncGenerator[LenedaSimulator]:
    async with running(LenedaSimulator(history_days=2)) as simulator:
        yield simulator


key_input = partial(link_input, provider="lu_leneda")


def point_input(**changes: Any) -> dict[str, Any]:
    return {
        "energy_id": DEFAULT_ENERGY_ID,
        "pod": DEFAULT_POD,
        "registers": ["import", "export"],
        "confirm": True,
    } | changes


def linked(sim: LenedaSimulator, **changes: Any) -> dict[str, Any]:
    return {
        "provider": "lu_leneda",
        "api_key": "test-key",
        "base_url": sim.url,
        "energy_id": DEFAULT_ENERGY_ID,
        "grants": [CODE_IMPORT, CODE_EXPORT],
        "eans": [DEFAULT_POD],
    } | changes


async def test_config_flow_links_leneda_after_every_error(
    hass: HomeAssistant, server: TelegramServer, leneda: LenedaSimulator
) -> None:
    telegram = render_telegram("nl_dsmr5_gas", leneda.history.meter)
    result = await remote_form(hass, server, telegram)
    flow_id = result["flow_id"]
    result = await configure(hass, flow_id, key_input(leneda, api_key=" test-key "))
    assert_form(result, "remote_leneda", {})
    assert fields(result) == [
        "energy_id",
        "pod",
        "registers",
        "production_pod",
        "gas_pod",
        "confirm",
    ]
    assert result["description_placeholders"]["local_meter"] == (
        leneda.history.meter.equipment_id
    )
    assert leneda.requests == []  # nothing asked before the POD is known

    # Every field wrong at once: each error on its field, nothing sent.
    result = await configure(
        hass,
        flow_id,
        point_input(energy_id=" ", pod="LU123", registers=[], confirm=False),
    )
    assert_form(
        result,
        "remote_leneda",
        {
            "energy_id": "invalid_energy_id",
            "pod": "invalid_pod",
            "registers": "registers_required",
            "confirm": "confirm_required",
        },
    )
    assert leneda.requests == []

    # A POD Leneda does not share with this Energy ID.
    other = "LU" + "9" * 31
    result = await configure(hass, flow_id, point_input(pod=other))
    assert_form(result, "remote_leneda", {"pod": "pod_not_shared"})

    # Export not granted: named, and the user unticks it (or grants it).
    leneda.revoke(CODE_EXPORT)
    result = await configure(hass, flow_id, point_input())
    assert_form(result, "remote_leneda", {"registers": "grant_missing"})
    assert result["description_placeholders"]["codes"] == (
        f"{CODE_EXPORT} ({DEFAULT_POD})"
    )

    # Leneda down, then an answer that cannot be read.
    leneda.fail(503)
    result = await configure(hass, flow_id, point_input(registers=["import"]))
    assert_form(result, "remote_leneda", {"base": "remote_unreachable"})
    leneda.fail(200, cut=True)
    result = await configure(hass, flow_id, point_input(registers=["import"]))
    assert_form(result, "remote_leneda", {"base": "unexpected_answer"})
    assert "time series" in result["description_placeholders"]["reason"]

    # A wrong Energy ID is refused like a wrong key.
    result = await configure(
        hass, flow_id, point_input(energy_id="LUXE-XX-YY-0000", registers=["import"])
    )
    assert_form(result, "remote_leneda", {"base": "invalid_api_key"})

    # Typed with blanks, in lower case: accepted.
    pod = " " + DEFAULT_POD.lower()[:10] + " " + DEFAULT_POD[10:] + " "
    result = await configure(hass, flow_id, point_input(pod=pod, registers=["import"]))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"] == {"remote": linked(leneda, grants=[CODE_IMPORT])}
    entry = result["result"]
    assert_no_flows(hass)
    await until_remote(entry, RemoteState.ACTIVE)
    assert entry.runtime_data.remote.missing_grants == frozenset()
    await unload(hass, entry)


async def test_an_unexpected_failure_is_unknown(
    hass: HomeAssistant, server: TelegramServer, leneda: LenedaSimulator
) -> None:
    telegram = render_telegram("nl_dsmr5_gas", leneda.history.meter)
    result = await remote_form(hass, server, telegram)
    flow_id = result["flow_id"]
    result = await configure(hass, flow_id, key_input(leneda))

    async def broken(self: Any, pod: str) -> frozenset[str]:
        raise RuntimeError("boom")

    with patch(
        "custom_components.slimme_meter.remote.leneda.LenedaProvider.probe", broken
    ):
        result = await configure(hass, flow_id, point_input())
    assert_form(result, "remote_leneda", {"base": "unknown"})
    result = await configure(hass, flow_id, point_input())
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    await unload(hass, result["result"])


async def test_the_default_address_follows_the_service(
    hass: HomeAssistant, server: TelegramServer, leneda: LenedaSimulator
) -> None:
    """Leaving the SDS address in place for Leneda means Leneda's own."""
    telegram = render_telegram("nl_dsmr5_gas", leneda.history.meter)
    result = await remote_form(hass, server, telegram)
    flow_id = result["flow_id"]
    with_sds_address = key_input(leneda)
    with_sds_address["advanced"] = {"base_url": "https://p4.smartdatasolutions.eu"}
    result = await configure(hass, flow_id, with_sds_address)
    assert_form(result, "remote_leneda", {})
    flow = hass.config_entries.flow._progress[flow_id]
    assert flow._remote["base_url"] == DEFAULT_BASE_URL
    hass.config_entries.flow.async_abort(flow_id)


async def test_options_link_leneda_and_a_new_key(
    hass: HomeAssistant,
    server: TelegramServer,
    leneda: LenedaSimulator,
    sim: Any,
) -> None:
    entry = await setup_entry(hass, server, sim)
    result = await options_menu(hass, entry)
    flow_id = result["flow_id"]
    result = await options(hass, flow_id, {"next_step_id": "remote_manage"})
    result = await options(hass, flow_id, key_input(leneda))
    assert_form(result, "remote_leneda", {})
    result = await options(hass, flow_id, point_input(confirm=False))
    assert_form(result, "remote_leneda", {"confirm": "confirm_required"})
    result = await options(hass, flow_id, point_input())
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["remote"] == linked(leneda)
    await hass.async_block_till_done()
    await until_remote(entry, RemoteState.ACTIVE)

    # Leneda refuses the key: the reauth reads the linked POD with the new one.
    leneda.api_key = "new-key"
    entry.runtime_data.remote.request_sync()
    await until_remote(entry, RemoteState.AUTH_FAILED)
    await hass.async_block_till_done()
    (flow,) = hass.config_entries.flow.async_progress()
    assert flow["context"]["source"] == SOURCE_REAUTH
    result = await configure(hass, flow["flow_id"], None)
    result = await configure(hass, flow["flow_id"], {"api_key": "test-key"})
    assert_form(result, "reauth_remote", {"base": "invalid_api_key"})
    result = await configure(hass, flow["flow_id"], {"api_key": "new-key"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.options["remote"] == linked(leneda, api_key="new-key")
    await hass.async_block_till_done()
    await until(
        lambda: (
            entry.runtime_data.remote is not None
            and entry.runtime_data.remote.state is RemoteState.ACTIVE
        )
    )
    await unload(hass, entry)


def suggested(result: Any, name: str) -> Any:
    for key in result["data_schema"].schema:
        if str(key) == name:
            return (key.description or {}).get("suggested_value")
    raise AssertionError(f"no field {name}")


async def test_production_and_gas_pods_with_every_error(
    hass: HomeAssistant, server: TelegramServer, leneda: LenedaSimulator
) -> None:
    leneda.production_pod = PRODUCTION_POD
    leneda.gas_pod = GAS_POD
    telegram = render_telegram("nl_dsmr5_gas", leneda.history.meter)
    result = await remote_form(hass, server, telegram)
    flow_id = result["flow_id"]
    result = await configure(hass, flow_id, key_input(leneda))
    every = ["import", "export", "gas"]

    # Extra PODs of the wrong form: each on its field, nothing sent.
    result = await configure(
        hass,
        flow_id,
        point_input(registers=every, production_pod="LU12", gas_pod="BE" + "1" * 31),
    )
    assert_form(
        result,
        "remote_leneda",
        {"production_pod": "invalid_pod", "gas_pod": "invalid_pod"},
    )
    assert leneda.requests == []

    # The gas POD not shared with this Energy ID: said on the gas field.
    leneda.revoke(pod=GAS_POD)
    pods = {"production_pod": PRODUCTION_POD, "gas_pod": GAS_POD.lower()}
    result = await configure(hass, flow_id, point_input(registers=every, **pods))
    assert_form(result, "remote_leneda", {"gas_pod": "pod_not_shared"})
    leneda.grant(pod=GAS_POD)

    # Gas not granted on its POD: the code is named with its metering point.
    leneda.revoke(CODE_GAS)
    result = await configure(hass, flow_id, point_input(registers=every, **pods))
    assert_form(result, "remote_leneda", {"registers": "grant_missing"})
    assert result["description_placeholders"]["codes"] == f"{CODE_GAS} ({GAS_POD})"

    # Gas left on the consumption POD, where it is not: named there.
    leneda.grant(CODE_GAS)
    result = await configure(
        hass, flow_id, point_input(registers=every, production_pod=PRODUCTION_POD)
    )
    assert_form(result, "remote_leneda", {"registers": "grant_missing"})
    assert result["description_placeholders"]["codes"] == (
        f"{CODE_GAS} ({DEFAULT_POD})"
    )

    # Right: each code comes from its own metering point.
    result = await configure(hass, flow_id, point_input(registers=every, **pods))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"] == {
        "remote": linked(
            leneda,
            grants=[CODE_IMPORT, CODE_EXPORT, CODE_GAS],
            eans=[DEFAULT_POD, PRODUCTION_POD, GAS_POD],
            production_pod=PRODUCTION_POD,
            gas_pod=GAS_POD,
        )
    }
    entry = result["result"]
    await until_remote(entry, RemoteState.ACTIVE)
    assert entry.runtime_data.remote.missing_grants == frozenset()
    pods_asked = {query["obisCode"] for query in leneda.requests}
    assert pods_asked == {CODE_IMPORT, CODE_EXPORT, CODE_GAS}

    # The options show the link in use; gas moves back to the main POD
    # (typed the same as the consumption POD: not a POD of its own).
    result = await options_menu(hass, entry)
    flow_id = result["flow_id"]
    result = await options(hass, flow_id, {"next_step_id": "remote_manage"})
    result = await options(hass, flow_id, {"next_step_id": "remote"})
    result = await options(hass, flow_id, key_input(leneda))
    assert_form(result, "remote_leneda", {})
    assert suggested(result, "pod") == DEFAULT_POD
    assert suggested(result, "gas_pod") == GAS_POD
    assert suggested(result, "production_pod") == PRODUCTION_POD
    assert suggested(result, "registers") == every
    leneda.gas_pod = None
    result = await options(
        hass,
        flow_id,
        point_input(registers=["import", "gas"], gas_pod=DEFAULT_POD),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["remote"] == linked(leneda, grants=[CODE_IMPORT, CODE_GAS])
    await hass.async_block_till_done()
    await unload(hass, entry)

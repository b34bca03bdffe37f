"""Repairs of the remote path, raised by a real sync against the simulated API.

Each issue comes from what the consent API answers (a P4 rejection, or a
metering point of another meter), and is fixed through the repairs flow
manager the frontend uses. Live P1 data keeps flowing throughout.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir, translation
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.slimme_meter import repairs
from custom_components.slimme_meter.const import DOMAIN
from custom_components.slimme_meter.p1.reader import LinkState
from custom_components.slimme_meter.remote.api import STOPPED_STATES, RemoteState
from simulators.p4 import DEFAULT_ELECTRICITY_EAN, DEFAULT_GAS_EAN, P4Simulator
from simulators.telegram import render_telegram

from .helpers import meter_entry, until
from .p1_helpers import V5, V5_ID
from .server import TelegramServer

type Result = dict[str, Any]

# P4 rejection code -> the issue it raises and the state the path stops in.
STOPPING_CODES = {
    "038": ("readout_switched_off", RemoteState.READOUT_SWITCHED_OFF),
    "039": ("not_remotely_readable", RemoteState.NOT_REMOTELY_READABLE),
    "007": ("not_remotely_readable", RemoteState.NOT_REMOTELY_READABLE),
    "040": ("consent_ended", RemoteState.CONSENT_ENDED),
    "008": ("consent_ended", RemoteState.CONSENT_ENDED),
}
KINDS = ["readout_switched_off", "consent_ended", "not_remotely_readable"]

pytestmark = pytest.mark.recorder


@pytest.fixture(autouse=True)
async def setup_repairs(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, "repairs", {})


def remote_meter(sim: P4Simulator) -> str:
    meter_id = sim.metering_point(DEFAULT_ELECTRICITY_EAN)["MeterId"]
    assert isinstance(meter_id, str)
    return meter_id


def linked(sim: P4Simulator, **changes: Any) -> dict[str, Any]:
    return {
        "provider": "nl_p4",
        "api_key": "test-key",
        "base_url": sim.url,
        "eans": [DEFAULT_ELECTRICITY_EAN, DEFAULT_GAS_EAN],
    } | changes


async def setup_linked(
    hass: HomeAssistant,
    server: TelegramServer,
    sim: P4Simulator,
    *,
    own_meter: bool = True,
    options: dict[str, Any] | None = None,
) -> MockConfigEntry:
    """Set up a meter whose remote path is linked to the simulator.

    With own_meter False the P1 port reports another meter than the
    simulated household's.
    """
    if own_meter:
        server.on_connect = render_telegram("nl_dsmr5_gas", sim.meter)
        entry = meter_entry(server.port, equipment_id=sim.meter.equipment_id)
    else:
        server.on_connect = V5
        entry = meter_entry(server.port, equipment_id=V5_ID)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, options={"live_interval": 2, "remote": linked(sim), **(options or {})}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await until(lambda: entry.runtime_data.state is LinkState.CONNECTED)
    return entry


def remote_state(entry: MockConfigEntry) -> RemoteState:
    return entry.runtime_data.remote_state


async def until_state(entry: MockConfigEntry, state: RemoteState) -> None:
    await until(lambda: remote_state(entry) is state, timeout=10)


def issue(hass: HomeAssistant, kind: str, entry_id: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{kind}_{entry_id}")


def our_issues(hass: HomeAssistant) -> list[str]:
    return sorted(
        issue_id for domain, issue_id in ir.async_get(hass).issues if domain == DOMAIN
    )


async def start_fix(hass: HomeAssistant, issue_id: str) -> Result:
    manager = repairs_flow_manager(hass)
    assert manager is not None
    return await manager.async_init(DOMAIN, data={"issue_id": issue_id})


async def fix(hass: HomeAssistant, flow_id: str, user_input: Any) -> Result:
    manager = repairs_flow_manager(hass)
    assert manager is not None
    return await manager.async_configure(flow_id, user_input)


async def fix_menu(hass: HomeAssistant, kind: str, entry_id: str) -> Result:
    """Open the fix flow of an issue at its menu."""
    result = await start_fix(hass, f"{kind}_{entry_id}")
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "init"
    return result


async def unload(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await hass.async_block_till_done()
    if entry.state is ConfigEntryState.LOADED:
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


# --------------------------------------------------------------------------
# Issues raised


@pytest.mark.parametrize("code", STOPPING_CODES)
async def test_rejection_raises_one_issue(
    hass: HomeAssistant, server: TelegramServer, sim: P4Simulator, code: str
) -> None:
    kind, state = STOPPING_CODES[code]
    sim.reject(code, DEFAULT_ELECTRICITY_EAN)
    entry = await setup_linked(hass, server, sim)
    await until_state(entry, state)
    await hass.async_block_till_done()

    assert our_issues(hass) == [f"{kind}_{entry.entry_id}"]
    raised = issue(hass, kind, entry.entry_id)
    assert raised is not None
    assert raised.is_fixable
    assert not raised.is_persistent
    assert raised.severity is ir.IssueSeverity.WARNING
    assert raised.translation_key == kind
    assert raised.translation_placeholders == {"meter": entry.title, "remote_meter": ""}
    assert raised.data == {"entry_id": entry.entry_id, "meter_id": ""}
    # Live data is not affected.
    assert entry.runtime_data.state is LinkState.CONNECTED
    assert entry.runtime_data.active_path == "local_only"
    await unload(hass, entry)


async def test_other_meter_raises_mismatch_issue(
    hass: HomeAssistant, server: TelegramServer, sim: P4Simulator
) -> None:
    entry = await setup_linked(hass, server, sim, own_meter=False)
    await until(lambda: entry.runtime_data.remote.mismatched_meter is not None)
    await hass.async_block_till_done()
    assert our_issues(hass) == [f"meter_mismatch_{entry.entry_id}"]
    raised = issue(hass, "meter_mismatch", entry.entry_id)
    assert raised is not None
    assert raised.translation_placeholders == {
        "meter": entry.title,
        "remote_meter": remote_meter(sim),
    }
    assert raised.data == {"entry_id": entry.entry_id, "meter_id": remote_meter(sim)}
    assert entry.runtime_data.remote.readings_imported == 0
    await unload(hass, entry)


# --------------------------------------------------------------------------
# Fixes


@pytest.mark.parametrize("code", ["038", "039"])
async def test_check_again_resumes(
    hass: HomeAssistant, server: TelegramServer, sim: P4Simulator, code: str
) -> None:
    """Read-out is back on: checking again imports what came since."""
    kind, state = STOPPING_CODES[code]
    sim.reject(code)
    entry = await setup_linked(hass, server, sim)
    await until_state(entry, state)
    remote = entry.runtime_data.remote
    imported = remote.readings_imported

    result = await fix_menu(hass, kind, entry.entry_id)
    assert result["menu_options"] == ["check_again", "disable_remote"]
    sim.add_days(1)
    result = await fix(hass, result["flow_id"], {"next_step_id": "check_again"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert remote.state not in STOPPED_STATES
    assert issue(hass, kind, entry.entry_id) is None

    await until(lambda: remote.readings_imported > imported)
    await until_state(entry, RemoteState.ACTIVE)
    await hass.async_block_till_done()
    assert entry.runtime_data.remote is remote  # the same path, woken up
    assert our_issues(hass) == []
    assert entry.options["remote"] == linked(sim)
    await unload(hass, entry)


@pytest.mark.parametrize("code", ["038", "039", "040"])
async def test_disable_remote(
    hass: HomeAssistant, server: TelegramServer, sim: P4Simulator, code: str
) -> None:
    kind, state = STOPPING_CODES[code]
    sim.reject(code)
    entry = await setup_linked(hass, server, sim)
    runtime = entry.runtime_data
    await until_state(entry, state)

    result = await fix_menu(hass, kind, entry.entry_id)
    assert result["menu_options"][-1] == "disable_remote"
    result = await fix(hass, result["flow_id"], {"next_step_id": "disable_remote"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {"live_interval": 2}
    await hass.async_block_till_done()
    assert runtime.remote is None
    assert runtime.remote_state is RemoteState.NOT_CONFIGURED
    assert our_issues(hass) == []
    # The P1 path was not touched.
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is runtime
    assert runtime.state is LinkState.CONNECTED
    assert server.connections == 1
    await unload(hass, entry)


@pytest.mark.parametrize("code", ["040", "008"])
async def test_consent_ended_new_key(
    hass: HomeAssistant, server: TelegramServer, sim: P4Simulator, code: str
) -> None:
    sim.reject(code)
    entry = await setup_linked(hass, server, sim)
    await until_state(entry, RemoteState.CONSENT_ENDED)
    first = entry.runtime_data.remote

    result = await fix_menu(hass, "consent_ended", entry.entry_id)
    assert result["menu_options"] == ["new_key", "disable_remote"]
    flow_id = result["flow_id"]
    result = await fix(hass, flow_id, {"next_step_id": "new_key"})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "new_key"
    assert [str(key) for key in result["data_schema"].schema] == ["api_key"]

    # A malformed key is refused with a translated error and nothing stored.
    result = await fix(hass, flow_id, {"api_key": "new consent\n"})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"api_key": "invalid_api_key_format"}
    assert entry.runtime_data.remote is first

    sim.api_key = "new-consent"
    sim.add_days(1)
    result = await fix(hass, flow_id, {"api_key": " new-consent "})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        "live_interval": 2,
        "remote": linked(sim, api_key="new-consent"),
    }
    await hass.async_block_till_done()
    # The remote path starts over with the new key.
    remote = entry.runtime_data.remote
    assert remote is not first
    await until(lambda: sim.requests[-1].api_key == "new-consent")
    await until_state(entry, RemoteState.ACTIVE)
    assert our_issues(hass) == []
    assert server.connections == 1
    await unload(hass, entry)


async def test_trust_meter(
    hass: HomeAssistant, server: TelegramServer, sim: P4Simulator
) -> None:
    entry = await setup_linked(
        hass,
        server,
        sim,
        own_meter=False,
        options={"remote": linked(sim, trusted_meters=["12345678"])},
    )
    await until(lambda: entry.runtime_data.remote.mismatched_meter is not None)

    result = await fix_menu(hass, "meter_mismatch", entry.entry_id)
    assert result["menu_options"] == ["trust_meter", "disable_remote"]
    result = await fix(hass, result["flow_id"], {"next_step_id": "trust_meter"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["remote"] == linked(
        sim, trusted_meters=["12345678", remote_meter(sim)]
    )
    await hass.async_block_till_done()

    # The history of the trusted meter is imported now.
    await until_state(entry, RemoteState.ACTIVE)
    remote = entry.runtime_data.remote
    assert remote.mismatched_meter is None
    assert remote.readings_imported > 0
    assert our_issues(hass) == []
    assert entry.runtime_data.state is LinkState.CONNECTED
    await unload(hass, entry)


async def test_mismatch_disable_remote(
    hass: HomeAssistant, server: TelegramServer, sim: P4Simulator
) -> None:
    entry = await setup_linked(hass, server, sim, own_meter=False)
    await until(lambda: entry.runtime_data.remote.mismatched_meter is not None)
    result = await fix_menu(hass, "meter_mismatch", entry.entry_id)
    result = await fix(hass, result["flow_id"], {"next_step_id": "disable_remote"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {"live_interval": 2}
    await hass.async_block_till_done()
    assert entry.runtime_data.remote is None
    assert our_issues(hass) == []
    await unload(hass, entry)


# --------------------------------------------------------------------------
# Issues that outlived their entry's remote path


async def test_check_again_while_entry_not_loaded(
    hass: HomeAssistant, server: TelegramServer, sim: P4Simulator
) -> None:
    sim.reject("038")
    entry = await setup_linked(hass, server, sim)
    await until_state(entry, RemoteState.READOUT_SWITCHED_OFF)
    await unload(hass, entry)
    assert entry.state is ConfigEntryState.NOT_LOADED

    result = await fix_menu(hass, "readout_switched_off", entry.entry_id)
    result = await fix(hass, result["flow_id"], {"next_step_id": "check_again"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert our_issues(hass) == []
    assert entry.options["remote"] == linked(sim)


@pytest.mark.parametrize("kind", [*KINDS, "meter_mismatch"])
async def test_issue_of_a_removed_entry(hass: HomeAssistant, kind: str) -> None:
    """Fixing an issue of an entry that is gone just clears it."""
    state = {
        "readout_switched_off": RemoteState.READOUT_SWITCHED_OFF,
        "consent_ended": RemoteState.CONSENT_ENDED,
        "not_remotely_readable": RemoteState.NOT_REMOTELY_READABLE,
        "meter_mismatch": RemoteState.ACTIVE,
    }[kind]
    mismatched = "12345678" if kind == "meter_mismatch" else None
    assert await async_setup_component(hass, DOMAIN, {})
    repairs.sync_issues(hass, "gone", "Smart meter", state, mismatched)
    assert our_issues(hass) == [f"{kind}_gone"]

    result = await start_fix(hass, f"{kind}_gone")
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert our_issues(hass) == []


async def test_sync_issues_replaces_and_clears(hass: HomeAssistant) -> None:
    repairs.sync_issues(hass, "entry", "Smart meter", RemoteState.CONSENT_ENDED, None)
    assert our_issues(hass) == ["consent_ended_entry"]
    # A mismatch outranks the state; one issue at a time.
    repairs.sync_issues(
        hass, "entry", "Smart meter", RemoteState.CONSENT_ENDED, "12345678"
    )
    assert our_issues(hass) == ["meter_mismatch_entry"]
    repairs.sync_issues(hass, "entry", "Smart meter", RemoteState.AUTH_FAILED, None)
    assert our_issues(hass) == []
    repairs.sync_issues(
        hass, "other", "Smart meter", RemoteState.NOT_REMOTELY_READABLE, None
    )
    repairs.sync_issues(hass, "entry", "Smart meter", None, None)
    assert our_issues(hass) == ["not_remotely_readable_other"]


# --------------------------------------------------------------------------
# Home Assistant before 2026.10


def test_schema_falls_back_to_voluptuous(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without probatio the module still loads and builds voluptuous schemas."""
    import voluptuous

    monkeypatch.setitem(sys.modules, "probatio", None)
    spec = importlib.util.spec_from_file_location(
        "custom_components.slimme_meter.repairs_without_probatio", repairs.__file__
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.vol is voluptuous


# --------------------------------------------------------------------------
# What a person reads


LIVE_UNAFFECTED = {
    "en": "**Live values from the P1 port are not affected**",
    "nl": "**Actuele waarden van de P1-poort worden niet geraakt**",
}


async def _explanation(
    hass: HomeAssistant, language: str, kind: str, result: Result
) -> tuple[str, list[str]]:
    """Return the init step's description and option texts as rendered."""
    strings = await translation.async_get_translations(
        hass, language, "issues", [DOMAIN]
    )
    prefix = f"component.{DOMAIN}.issues.{kind}.fix_flow.step.init"
    placeholders = result["description_placeholders"]
    options = [
        strings[f"{prefix}.menu_options.{option}"].format(**placeholders)
        + " "
        + strings[f"{prefix}.menu_option_descriptions.{option}"].format(**placeholders)
        for option in result["menu_options"]
    ]
    return strings[f"{prefix}.description"].format(**placeholders), options


@pytest.mark.parametrize("language", ["en", "nl"])
@pytest.mark.parametrize("code", ["038", "039", "040"])
async def test_the_fix_flow_explains_itself(
    hass: HomeAssistant,
    server: TelegramServer,
    sim: P4Simulator,
    code: str,
    language: str,
) -> None:
    """The fix dialog says what happened and that live values keep flowing."""
    kind, state = STOPPING_CODES[code]
    sim.reject(code)
    entry = await setup_linked(hass, server, sim)
    await until_state(entry, state)

    result = await fix_menu(hass, kind, entry.entry_id)
    description, options = await _explanation(hass, language, kind, result)
    assert LIVE_UNAFFECTED[language] in description
    assert entry.title in description
    assert "{" not in description
    assert len(options) == 2
    assert all("{" not in option for option in options)
    await unload(hass, entry)


@pytest.mark.parametrize("language", ["en", "nl"])
async def test_the_mismatch_fix_names_both_meters(
    hass: HomeAssistant, server: TelegramServer, sim: P4Simulator, language: str
) -> None:
    entry = await setup_linked(hass, server, sim, own_meter=False)
    await until(lambda: entry.runtime_data.remote.mismatched_meter is not None)
    await hass.async_block_till_done()

    result = await fix_menu(hass, "meter_mismatch", entry.entry_id)
    description, options = await _explanation(hass, language, "meter_mismatch", result)
    assert LIVE_UNAFFECTED[language] in description
    assert entry.title in description
    assert remote_meter(sim) in description
    assert remote_meter(sim) in options[0]
    await unload(hass, entry)

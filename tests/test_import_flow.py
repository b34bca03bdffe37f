"""Importing history from another integration: the options step and the action."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from homeassistant.components.energy.data import async_get_manager
from homeassistant.components.recorder import get_instance
from homeassistant.components.recorder.statistics import get_metadata
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.slimme_meter.const import DOMAIN
from custom_components.slimme_meter.history import MergedHistory, Series, statistic_id

from .helpers import meter_entry, setup_meter
from .import_helpers import H, add_external, read_rows
from .p1_helpers import V5, V5_ID
from .server import TelegramServer
from .test_config_flow import assert_form

T0 = datetime(2026, 5, 1, tzinfo=UTC)
# The live meter's telegrams must not record an hour of their own: Home
# Assistant's clock stands well inside the hour after the recorded day.
pytestmark = [
    pytest.mark.freeze_time(datetime(2026, 5, 2, 0, 37, tzinfo=UTC), tick=True),
    pytest.mark.recorder,
    pytest.mark.usefixtures("home_zone"),
]
HW_IMPORT = "homewizard_like:p1_import"
HW_EXPORT = "homewizard_like:p1_export"
GAS = "other:gas"
EMPTY = "other:no_sums"
IMPORT_SID = statistic_id(V5_ID, Series.ELECTRICITY_IMPORT)
GAS_SID = statistic_id(V5_ID, Series.GAS)

type Result = dict[str, Any]


async def _loaded(hass: HomeAssistant, server: TelegramServer) -> MockConfigEntry:
    """A meter set up and read; the last four hours of the day are its own."""
    server.on_connect = V5
    entry = meter_entry(server.port, equipment_id=V5_ID)
    assert await setup_meter(hass, entry)
    history: MergedHistory = entry.runtime_data.history
    for hour in range(20, 24):
        history.record_local(
            Series.ELECTRICITY_IMPORT, T0 + (hour + 1) * H, Decimal(f"{hour:.3f}")
        )
    # The gas meter we read is another one than the source's.
    history.record_local(Series.GAS, T0 + 25 * H, Decimal("500.000"))
    await history.async_write()
    return entry


async def _sources(hass: HomeAssistant) -> None:
    """A HomeWizard-like day in Wh (1 kWh an hour) and a gas meter in m³."""
    add_external(
        hass,
        HW_IMPORT,
        "Wh",
        [(T0 + hour * H, 1000.0 * hour, 1000.0 * hour) for hour in range(24)],
        unit_class="energy",
    )
    add_external(
        hass,
        HW_EXPORT,
        "Wh",
        [(T0 + hour * H, 50.0 * hour, 50.0 * hour) for hour in range(24)],
        unit_class="energy",
    )
    add_external(
        hass,
        GAS,
        "m³",
        [(T0 + hour * H, 3000 + 0.1 * hour, 0.1 * hour) for hour in range(24)],
        unit_class="volume",
    )
    # Rows without a sum (a statistic that stopped being one) are skipped.
    add_external(hass, EMPTY, "kWh", [(T0, 1.0, None)], unit_class="energy")
    await async_wait_recording_done(hass)


async def _energy_prefs(hass: HomeAssistant) -> None:
    """An Energy dashboard on the old statistics; the export priced by a number."""
    assert await async_setup_component(hass, "energy", {})
    manager = await async_get_manager(hass)
    await manager.async_update(
        {
            "energy_sources": [
                {
                    "type": "grid",
                    "flow_from": [
                        {
                            "stat_energy_from": HW_IMPORT,
                            "stat_cost": None,
                            "entity_energy_price": None,
                            "number_energy_price": None,
                        }
                    ],
                    "flow_to": [
                        {
                            "stat_energy_to": HW_EXPORT,
                            "stat_compensation": None,
                            "entity_energy_price": None,
                            "number_energy_price": 0.07,
                        }
                    ],
                    "cost_adjustment_day": 0,
                },
                {
                    "type": "gas",
                    "stat_energy_from": GAS,
                    "stat_cost": "other:gas_cost",
                    "entity_energy_price": None,
                    "number_energy_price": 1.2,
                },
            ]
        }  # type: ignore[typeddict-item]
    )


async def _open(hass: HomeAssistant, entry: MockConfigEntry) -> Result:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    return await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "import_history"}
    )


async def _submit(hass: HomeAssistant, result: Result, user_input: Any) -> Result:
    return await hass.config_entries.options.async_configure(
        result["flow_id"], user_input
    )


def _options(result: Result) -> dict[str, list[str]]:
    return {
        str(key): [option["value"] for option in selector.config["options"]]
        for key, selector in result["data_schema"].schema.items()
    }


async def test_options_import_with_another_gas_meter_and_the_dashboard(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = await _loaded(hass, server)
    await _sources(hass)
    await _energy_prefs(hass)
    result = await _open(hass, entry)
    assert_form(result, "import_history", None)
    assert _options(result) == {
        "electricity_import": [HW_EXPORT, HW_IMPORT, EMPTY],
        "electricity_export": [HW_EXPORT, HW_IMPORT, EMPTY],
        "gas": [GAS],
        "water": [GAS],
    }
    result = await _submit(hass, result, {})
    assert_form(result, "import_history", {"base": "import_nothing_chosen"})
    result = await _submit(
        hass,
        result,
        {"electricity_import": HW_IMPORT, "electricity_export": HW_EXPORT, "gas": GAS},
    )
    # The source's gas register (3002.3 m³) is not ours (500 m³).
    assert_form(result, "import_mismatch", None)
    assert [str(key) for key in result["data_schema"].schema] == [
        "energy_dashboard",
        "confirm_mismatch",
    ]
    placeholders = result["description_placeholders"]
    assert placeholders["table"].splitlines() == [
        f"| {HW_IMPORT} | 2026-05-01 02:00 | 2026-05-02 02:00 | 20 | 4 | 0"
        " | 0.000 kWh | - |",
        f"| {HW_EXPORT} | 2026-05-01 02:00 | 2026-05-02 02:00 | 24 | 0 | 0"
        " | 0.000 kWh | - |",
        f"| {GAS} | 2026-05-01 02:00 | 2026-05-02 02:00 | 24 | 0 | 0 | 0.000 m³ | - |",
    ]
    assert placeholders["joins"] == (
        f"| {GAS} | 2026-05-02 03:00 | 3002.300 m³ | 500.000 m³ |"
    )
    assert placeholders["dashboard"] == f"{HW_IMPORT}, {GAS}"
    assert placeholders["priced"] == HW_EXPORT

    result = await _submit(hass, result, {"energy_dashboard": True})
    assert_form(result, "import_mismatch", {"confirm_mismatch": "confirm_required"})
    assert await read_rows(hass, GAS_SID) == [(T0 + 24 * H, 500.0, 0.0)]
    result = await _submit(
        hass, result, {"energy_dashboard": True, "confirm_mismatch": True}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "import_done"
    assert result["description_placeholders"] == {"hours": "68", "dashboard": "2"}

    rows = await read_rows(hass, IMPORT_SID)
    assert [row[1] for row in rows] == [float(hour) for hour in range(24)]
    assert [row[2] for row in rows] == [float(hour) for hour in range(24)]
    gas = await read_rows(hass, GAS_SID)
    assert len(gas) == 25
    assert gas[-1][2] == pytest.approx(2.3)  # the source's 2.3 m³, then ours
    manager = await async_get_manager(hass)
    assert manager.data is not None
    grid, gas_source = manager.data["energy_sources"]
    assert grid["flow_from"][0]["stat_energy_from"] == IMPORT_SID  # type: ignore[typeddict-item]
    assert grid["flow_to"][0]["stat_energy_to"] == HW_EXPORT  # type: ignore[typeddict-item]
    assert gas_source["stat_energy_from"] == GAS_SID  # type: ignore[typeddict-item]
    assert gas_source["stat_cost"] == "other:gas_cost"  # type: ignore[typeddict-item]
    assert entry.runtime_data.history.summary()["gas"]["imported"] == 24


async def test_options_preview_then_import(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = await _loaded(hass, server)
    await _sources(hass)
    # The Energy dashboard runs but was never set up.
    assert await async_setup_component(hass, "energy", {})
    result = await _open(hass, entry)
    result = await _submit(
        hass, result, {"electricity_import": HW_IMPORT, "electricity_export": EMPTY}
    )
    assert_form(result, "import_preview", None)
    assert list(result["data_schema"].schema) == []  # no Energy dashboard here
    assert result["description_placeholders"]["dashboard"] == "-"
    assert result["description_placeholders"]["table"].splitlines()[1] == (
        f"| {EMPTY} | - | - | 0 | 0 | 0 | 0.000 kWh | - |"
    )
    result = await _submit(hass, result, {})
    assert result["type"] is FlowResultType.ABORT
    assert result["description_placeholders"] == {"hours": "20", "dashboard": "0"}
    assert len(await read_rows(hass, IMPORT_SID)) == 24


async def test_options_source_gone_before_submit(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = await _loaded(hass, server)
    await _sources(hass)
    result = await _open(hass, entry)
    get_instance(hass).async_clear_statistics([HW_IMPORT])
    await read_rows(hass, HW_IMPORT)
    result = await _submit(hass, result, {"electricity_import": HW_IMPORT})
    assert_form(result, "import_history", {"base": "import_source_missing"})
    assert result["description_placeholders"] == {"statistic_id": HW_IMPORT}


async def test_options_nothing_to_import_or_no_history(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = await _loaded(hass, server)
    # The statistics the recorder keeps of our own sensors are not offered.
    ours = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    own_sensor = next(e.entity_id for e in ours if "energy" in e.entity_id)
    add_external(hass, own_sensor, "kWh", [(T0, 1.0, 0.0)], unit_class="energy")
    await async_wait_recording_done(hass)
    assert own_sensor in await get_instance(hass).async_add_executor_job(
        lambda: get_metadata(hass, statistic_ids={own_sensor})
    )
    result = await _open(hass, entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_import_sources"
    idle = meter_entry(1, equipment_id="other")
    idle.add_to_hass(hass)
    result = await _open(hass, idle)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "import_unavailable"


async def test_options_entry_unloaded_during_preview(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = await _loaded(hass, server)
    await _sources(hass)
    result = await _open(hass, entry)
    result = await _submit(hass, result, {"electricity_import": HW_IMPORT})
    assert_form(result, "import_preview", None)
    assert await hass.config_entries.async_unload(entry.entry_id)
    result = await _submit(hass, result, {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "import_unavailable"


async def _call(hass: HomeAssistant, service: str, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=True
    )


async def test_action_preview_import_and_remove(
    hass: HomeAssistant, server: TelegramServer
) -> None:
    entry = await _loaded(hass, server)
    await _sources(hass)
    await _energy_prefs(hass)
    eid = entry.entry_id
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "import_history", config_entry_id=eid)
    assert err.value.translation_key == "import_nothing_chosen"
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, "import_history", config_entry_id=eid, gas="other:none")
    assert err.value.translation_key == "import_source_missing"
    assert err.value.translation_placeholders == {"statistic_id": "other:none"}

    preview = await _call(
        hass,
        "import_history",
        config_entry_id=eid,
        electricity_import=HW_IMPORT,
        gas=GAS,
        preview=True,
    )
    assert preview["hours_imported"] == 0
    assert preview["series"]["electricity_import"]["hours_added"] == 20
    assert preview["series"]["gas"]["join"] == {
        "hour_end": (T0 + 25 * H).isoformat(),
        "source_register": pytest.approx(3002.3),
        "our_register": 500.0,
        "matches": False,
    }
    assert preview["energy_dashboard"] == {
        "replaceable": [HW_IMPORT, GAS],
        "priced": [],
        "replaced": False,
    }
    assert len(await read_rows(hass, IMPORT_SID)) == 4  # nothing written

    with pytest.raises(ServiceValidationError) as err:
        await _call(
            hass,
            "import_history",
            config_entry_id=eid,
            electricity_import=HW_IMPORT,
            gas=GAS,
        )
    assert err.value.translation_key == "import_mismatch"
    assert err.value.translation_placeholders == {
        "statistic_id": GAS,
        "source": "3002.300",
        "ours": "500.000",
    }
    done = await _call(
        hass,
        "import_history",
        config_entry_id=eid,
        electricity_import=HW_IMPORT,
        gas=GAS,
        confirm_mismatch=True,
    )
    assert done["hours_imported"] == 44
    assert done["energy_dashboard"]["replaced"] is False
    manager = await async_get_manager(hass)
    assert manager.data is not None
    assert manager.data["energy_sources"][1]["stat_energy_from"] == GAS  # type: ignore[typeddict-item]
    again = await _call(
        hass,
        "import_history",
        config_entry_id=eid,
        electricity_import=HW_IMPORT,
        gas=GAS,
        confirm_mismatch=True,
        energy_dashboard=True,
    )
    assert again["hours_imported"] == 0  # idempotent
    assert again["energy_dashboard"]["replaced"] is True
    assert manager.data["energy_sources"][1]["stat_energy_from"] == GAS_SID  # type: ignore[typeddict-item]

    removed = await _call(hass, "remove_imported_history", config_entry_id=eid)
    assert removed == {"hours_removed": 44}
    assert [row[2] for row in await read_rows(hass, IMPORT_SID)] == [0, 1, 2, 3]
    assert await read_rows(hass, GAS_SID) == [(T0 + 24 * H, 500.0, 0.0)]

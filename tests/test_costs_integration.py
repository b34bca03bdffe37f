"""Prices set in the options flow, costs on the imported history, removal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import get_instance
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.slimme_meter.costs import cost_statistic_id
from custom_components.slimme_meter.diagnostics import (
    async_get_config_entry_diagnostics,
)
from custom_components.slimme_meter.history import Series

from .remote_helpers import (
    START,
    SyncRuns,
    household,
    start,
    statistics_rows,
)

pytestmark = [
    pytest.mark.freeze_time(START, tick=True),
    pytest.mark.recorder,
    pytest.mark.usefixtures("socket_enabled", "home_zone", "steady_link"),
]
IMPORT = Series.ELECTRICITY_IMPORT
GAS = Series.GAS


async def cost_sums(
    hass: HomeAssistant, meter: str, series: Series
) -> list[tuple[datetime, float]]:
    await async_wait_recording_done(hass)
    sid = cost_statistic_id(meter, series)
    result: dict[str, list[Any]] = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        datetime(2000, 1, 1, tzinfo=UTC),
        None,
        {sid},
        "hour",
        None,
        {"sum"},
    )
    return [
        (datetime.fromtimestamp(row["start"], UTC), row["sum"])
        for row in result.get(sid, [])
    ]


async def set_prices(
    hass: HomeAssistant, entry: MockConfigEntry, prices: dict[str, Any]
) -> dict[str, Any]:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    assert "costs" in result["menu_options"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "costs"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "costs"
    # Every field once, each with its own selector.
    fields = [str(key) for key in result["data_schema"].schema]
    assert len(fields) == len(set(fields)) == 14
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], prices
    )
    await hass.async_block_till_done()
    return dict(result)


async def test_prices_from_the_options_flow_cost_the_whole_history(
    hass: HomeAssistant, runs: SyncRuns
) -> None:
    async with household(days=2) as home:
        entry = home.entry()
        runtime = await start(hass, entry)
        await runs.wait(1)
        meter = entry.data["meter_key"]
        energy = await statistics_rows(hass, meter, IMPORT)
        gas = await statistics_rows(hass, meter, GAS)
        assert len(energy) > 40
        assert await cost_sums(hass, meter, IMPORT) == []

        # Errors, then their recovery.
        result = await set_prices(
            hass,
            entry,
            {
                "electricity_import_price_low": 0.2,
                "gas_price": float("nan"),
                "tariff_schedule": "custom",
                "low_start": 7.5,
                "low_end": 6,
            },
        )
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {
            "electricity_import_price_low": "low_without_normal",
            "gas_price": "invalid_price",
            "low_start": "invalid_hour",
        }
        result = await hass.config_entries.options.async_configure(
            result["flow_id"],
            {"electricity_import_price": 0.25, "gas_price": 1.2},
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        await hass.async_block_till_done()
        assert entry.options["costs"] == {
            "electricity_import_price": 0.25,
            "gas_price": 1.2,
            "tariff_schedule": "netherlands",
        }
        assert "remote" in entry.options

        costs = await cost_sums(hass, meter, IMPORT)
        # A cost row on every energy row's hour; the sum follows the energy.
        assert [start for start, _ in costs] == [row[0] for row in energy]
        for (_, cost), (_, _, total) in zip(costs, energy, strict=True):
            assert cost == pytest.approx(total * 0.25, abs=1e-6)
        gas_costs = await cost_sums(hass, meter, GAS)
        assert gas_costs[-1][1] == pytest.approx(gas[-1][2] * 1.2, abs=1e-6)

        # Another price: every hour is computed again.
        result = await set_prices(
            hass, entry, {"electricity_import_price": 0.5, "gas_price": 1.2}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        costs = await cost_sums(hass, meter, IMPORT)
        assert costs[-1][1] == pytest.approx(energy[-1][2] * 0.5, abs=1e-6)

        diagnostics = await async_get_config_entry_diagnostics(hass, entry)
        assert diagnostics["costs"]["electricity_import"]["hours"] == len(energy)
        assert diagnostics["costs"]["gas"]["unknown_price_hours"] == []

        # Removing the imported history removes the costs derived from it.
        await hass.services.async_call(
            "slimme_meter",
            "remove_remote_history",
            {"config_entry_id": entry.entry_id},
            blocking=True,
        )
        await hass.async_block_till_done()
        assert await cost_sums(hass, meter, IMPORT) == []
        assert await cost_sums(hass, meter, GAS) == []

        # A sensor that is not a price is refused; then a price entity.
        hass.states.async_set("sensor.power", "310", {"unit_of_measurement": "W"})
        hass.states.async_set(
            "sensor.price", "0.31", {"unit_of_measurement": "EUR/kWh"}
        )
        result = await set_prices(
            hass, entry, {"electricity_import_price_entity": "sensor.power"}
        )
        assert result["errors"] == {"electricity_import_price_entity": "not_a_price"}
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"electricity_import_price_entity": "sensor.price"}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        await hass.async_block_till_done()
        assert runtime.costs is not None
        assert runtime.costs.settings.entities == {IMPORT: "sensor.price"}

        # No prices at all: the settings go.
        result = await set_prices(hass, entry, {})
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert "costs" not in entry.options
        assert runtime.costs is not None
        assert runtime.costs.settings.prices == {}
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


async def test_p1_quarter_hours_and_tariff_with_a_price_entity(
    hass: HomeAssistant, runs: SyncRuns, freezer: FrozenDateTimeFactory
) -> None:
    hass.states.async_set("sensor.price", "0.25", {"unit_of_measurement": "EUR/kWh"})
    async with household(days=2) as home:
        entry = home.entry()
        entry.add_to_hass(hass)
        hass.config_entries.async_update_entry(
            entry,
            options={
                **entry.options,
                "costs": {"electricity_import_price_entity": "sensor.price"},
            },
        )
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        await runs.wait(1)
        costs = entry.runtime_data.costs
        assert costs is not None
        # The grid operator's 15-minute readings of the last days are kept.
        kept = costs.quarters[IMPORT]
        assert kept
        assert all(stamp % 3600 for stamp in kept)
        # A telegram just after 10:45: the registers at the quarter-hour.
        moment = datetime(2025, 1, 9, 10, 45, 5, tzinfo=UTC)
        freezer.move_to(moment)
        await home.send(hass, entry)
        stamp = int(moment.timestamp()) - 5
        assert stamp in kept
        # Just after 11:00: the meter's tariff for the hour (normal, 2).
        freezer.move_to(moment + timedelta(minutes=15))
        await home.send(hass, entry)
        assert costs.tariffs[stamp + 900] is False
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()

"""Statistics of other integrations, as a user switching to us has them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from homeassistant.components.recorder import get_instance
from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    async_add_external_statistics,
    async_import_statistics,
    statistics_during_period,
)
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

from custom_components.slimme_meter.history import _HAS_UNIT_CLASS

H = timedelta(hours=1)
DSMR_SENSOR = "sensor.electricity_meter_energy_consumption"
Row = tuple[datetime, float, float]


def add_external(
    hass: HomeAssistant,
    statistic_id: str,
    unit: str,
    rows: Iterable[tuple[datetime, float, float | None]],
    *,
    unit_class: str | None = None,
    has_sum: bool = True,
) -> None:
    """Write another integration's statistic: (hour start, state, sum) rows.

    An entity's statistic (``sensor.x``) is imported as the recorder's own.
    """
    entity = ":" not in statistic_id
    metadata: dict[str, Any] = {
        "has_sum": has_sum,
        "mean_type": StatisticMeanType.NONE
        if has_sum
        else StatisticMeanType.ARITHMETIC,
        "name": statistic_id.rsplit(":", 1)[-1].replace("_", " "),
        "source": "recorder" if entity else statistic_id.split(":", maxsplit=1)[0],
        "statistic_id": statistic_id,
        "unit_of_measurement": unit,
    }
    if _HAS_UNIT_CLASS:
        metadata["unit_class"] = unit_class
    (async_import_statistics if entity else async_add_external_statistics)(
        hass,
        StatisticMetaData(**metadata),  # type: ignore[typeddict-item]
        [
            StatisticData(start=start, state=state, sum=total)
            if has_sum
            else StatisticData(start=start, mean=state, min=state, max=state)
            for start, state, total in rows
        ],
    )


async def compile_dsmr_sensor(
    hass: HomeAssistant, first_hour: datetime, registers: list[float]
) -> None:
    """Record a core dsmr energy sensor's states and let the recorder compile them.

    ``registers[k]`` is the register at the end of hour ``first_hour + k``;
    the sensor reports it four times an hour, as a throttled sensor does.
    """
    await async_setup_component(hass, "sensor", {})
    attributes = {
        "state_class": "total_increasing",
        "device_class": "energy",
        "unit_of_measurement": "kWh",
        "friendly_name": "Electricity meter Energy consumption",
    }
    previous = registers[0]
    for hour, register in enumerate(registers):
        start = first_hour + hour * H
        for quarter in range(1, 5):
            value = previous + (register - previous) * quarter / 4
            moment = start + timedelta(minutes=15 * quarter - 1)
            hass.states.async_set(
                DSMR_SENSOR,
                f"{value:.3f}",
                attributes,
                timestamp=moment.timestamp(),
            )
        previous = register
    await async_wait_recording_done(hass)
    for hour in range(len(registers)):
        # The hour's last five minutes; its hourly row comes with it.
        do_adhoc_statistics(hass, start=first_hour + hour * H + timedelta(minutes=55))
        await async_wait_recording_done(hass)


async def read_rows(hass: HomeAssistant, statistic_id: str) -> list[Row]:
    """Return a statistic's hourly (start, state, sum) rows."""
    await async_wait_recording_done(hass)
    result: dict[str, list[Any]] = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        datetime(2000, 1, 1, tzinfo=UTC),
        None,
        {statistic_id},
        "hour",
        None,
        {"state", "sum"},
    )
    return [
        (datetime.fromtimestamp(row["start"], UTC), row["state"], row["sum"])
        for row in result.get(statistic_id, [])
    ]

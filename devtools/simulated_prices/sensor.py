"""The simulated price sensor: a new price every quarter-hour, and its past."""

from __future__ import annotations

from datetime import UTC, datetime
import logging
from typing import Any

from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    async_import_statistics,
    get_last_statistics,
)
from homeassistant.components.sensor import SensorEntity, SensorStateClass
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddEntitiesCallback
from homeassistant.helpers.event import async_track_utc_time_change
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util

from .const import CONF_DAYS, DEFAULT_DAYS, ENTITY_ID, UNIT
from .prices import HOUR, QUARTER, hour_prices, price_at

_LOGGER = logging.getLogger(__name__)


async def async_setup_entry(
    hass: HomeAssistant, entry: ConfigEntry, add_entities: AddEntitiesCallback
) -> None:
    """Add the price sensor."""
    add_entities([SimulatedPrice(int(entry.data.get(CONF_DAYS, DEFAULT_DAYS)))])


def statistics_rows(first: int, end: int) -> list[StatisticData]:
    """Return the hourly mean, min and max of the hours in [first, end)."""
    rows = []
    for start in range(first, end, HOUR):
        prices = hour_prices(start)
        rows.append(
            StatisticData(
                start=datetime.fromtimestamp(start, UTC),
                mean=round(sum(prices) / len(prices), 6),
                min=min(prices),
                max=max(prices),
            )
        )
    return rows


class SimulatedPrice(SensorEntity):
    """The price per kWh now; its hourly statistics go back ``days`` days."""

    _attr_name = "Simulated electricity price"
    _attr_unique_id = "simulated_electricity_price"
    _attr_native_unit_of_measurement = UNIT
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_suggested_display_precision = 4
    _attr_should_poll = False
    _attr_icon = "mdi:cash-clock"

    def __init__(self, days: int) -> None:
        """Keep how far back the history goes."""
        self.days = days
        self.entity_id = ENTITY_ID

    async def async_added_to_hass(self) -> None:
        """Show the price now, change it every quarter-hour, fill in the past."""
        self._update()
        self.async_on_remove(
            async_track_utc_time_change(self.hass, self._tick, minute="/15", second=0)
        )
        await self.async_import_history()

    @callback
    def _tick(self, _now: datetime) -> None:
        self._update()
        self.async_write_ha_state()

    def _update(self) -> None:
        now = int(dt_util.utcnow().timestamp())
        self._attr_native_value = price_at(now - now % QUARTER)

    async def async_import_history(self) -> int:
        """Import the hours without statistics up to this one; return how many.

        The hours the recorder compiled itself while the sensor ran are kept;
        the hours before (and those while Home Assistant was stopped) are
        imported. The hour running now is left to the recorder.
        """
        now = int(dt_util.utcnow().timestamp())
        end = now - now % HOUR
        first = end - self.days * 24 * HOUR
        last: dict[str, list[Any]] = await get_instance(
            self.hass
        ).async_add_executor_job(
            get_last_statistics, self.hass, 1, self.entity_id, False, {"mean"}
        )
        if rows := last.get(self.entity_id):
            first = max(first, int(rows[0]["start"]) + HOUR)
        if first >= end:
            return 0
        metadata: dict[str, Any] = {
            "has_sum": False,
            "mean_type": StatisticMeanType.ARITHMETIC,
            "name": None,
            "source": "recorder",
            "statistic_id": self.entity_id,
            "unit_of_measurement": UNIT,
        }
        if "unit_class" in StatisticMetaData.__annotations__:
            metadata["unit_class"] = None
        history = statistics_rows(first, end)
        async_import_statistics(
            self.hass,
            StatisticMetaData(**metadata),  # type: ignore[typeddict-item]
            history,
        )
        _LOGGER.info(
            "Imported %d hours of prices from %s",
            len(history),
            dt_util.as_local(datetime.fromtimestamp(first, UTC)).isoformat(),
        )
        return len(history)

"""Prices of a price entity the user already has, read from the recorder.

Any sensor in a currency per kWh (or per MWh, per Wh) or per m³ will do:
Nord Pool, EnergyZero, ENTSO-e, Tibber, a supplier's integration. Its
recorded states give the price at every moment as a step function (a state
holds until the next); where the states were purged, the hourly mean of its
long-term statistics stands in for a whole hour. A period is priced only
when the price is known for all of it; otherwise it is unknown, never zero.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime
import math
from typing import Any

from homeassistant.components.recorder import history as recorder_history
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance

HOUR = 3600
QUARTER = 900
# A price per MWh or per Wh is brought to a price per kWh.
_SCALE = {"mwh": 0.001, "wh": 1000.0}


def unit_scale(unit: str | None) -> float:
    """Return the factor that turns a price in ``unit`` into one per kWh or m³."""
    per = (unit or "").rsplit("/", 1)[-1].strip().lower()
    return _SCALE.get(per, 1.0)


def _number(state: str) -> float | None:
    if state in (STATE_UNKNOWN, STATE_UNAVAILABLE):
        return None
    try:
        value = float(state)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass(slots=True)
class PriceTimeline:
    """A price entity's prices over a period."""

    times: list[float] = field(default_factory=list)  # when each price began
    values: list[float | None] = field(default_factory=list)
    hourly: dict[int, float] = field(default_factory=dict)  # hour start: mean

    def mean(self, start: int, end: int) -> float | None:
        """Return the time-weighted price over [start, end), if known throughout."""
        times, values = self.times, self.values
        index = bisect_right(times, start) - 1
        if index < 0:
            return None
        total = 0.0
        moment = float(start)
        while moment < end:
            value = values[index]
            if value is None:
                return None
            until = times[index + 1] if index + 1 < len(times) else float(end)
            until = min(until, float(end))
            total += value * (until - moment)
            moment = until
            index += 1
        return total / (end - start)

    def hour(self, start: int) -> float | None:
        """Return the mean price of the hour beginning at ``start``."""
        price = self.mean(start, start + HOUR)
        return self.hourly.get(start) if price is None else price

    def quarters(self, start: int) -> list[float | None]:
        """Return the mean price of each quarter-hour of an hour."""
        return [
            self.mean(start + step * QUARTER, start + (step + 1) * QUARTER)
            for step in range(4)
        ]


async def async_load_prices(
    hass: HomeAssistant, entity_id: str, start: int, end: int
) -> PriceTimeline:
    """Read an entity's prices over [start, end) from states and statistics."""
    # A second early: the recorder leaves out a state changed exactly at the
    # start (neither the state at the start nor a change after it).
    begin = datetime.fromtimestamp(start - 1, UTC)
    finish = datetime.fromtimestamp(end, UTC)
    recorder = get_instance(hass)
    states = await recorder.async_add_executor_job(
        lambda: recorder_history.state_changes_during_period(
            hass, begin, finish, entity_id, no_attributes=True
        )
    )
    stats: dict[str, list[Any]] = await recorder.async_add_executor_job(
        statistics_during_period,
        hass,
        begin,
        finish,
        {entity_id},
        "hour",
        None,
        {"mean"},
    )
    current = hass.states.get(entity_id)
    scale = unit_scale(
        current.attributes.get("unit_of_measurement") if current else None
    )
    timeline = PriceTimeline()
    for state in states.get(entity_id, []):
        value = _number(state.state)
        timeline.times.append(state.last_changed.timestamp())
        timeline.values.append(None if value is None else value * scale)
    for row in stats.get(entity_id, []):
        if row.get("mean") is not None:
            timeline.hourly[int(row["start"])] = float(row["mean"]) * scale
    return timeline

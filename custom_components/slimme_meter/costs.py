"""What the merged history cost: hourly cost statistics beside the energy ones.

Home Assistant's Energy dashboard prices only entities; for external
statistics it takes "a statistic tracking the total costs". This module
writes those: ``<meter>_electricity_import_cost``,
``<meter>_electricity_export_compensation`` and ``<meter>_gas_cost``, in
the currency of Home Assistant, one row on every hour the energy series has
a row (estimated hours too), ``sum`` continuous from the first hour.

Prices are fixed amounts per kWh or m³, optionally a pair for the low and
the normal tariff, plus an optional fixed amount per day on the import cost
(spread over the day's hours, 23 or 25 on the days the clocks change).
Which tariff was in force comes from the meter's own tariff indicator where
the P1 port saw the hour, and from a tariff schedule elsewhere
(:mod:`.tariffs`).

The costs follow the energy rows: whenever the merged history writes rows
(new hours, a corrected history, estimated hours replaced by readings), the
costs from the first of them on are computed again and written with every
later sum. A change of the prices rewrites every cost row. An hour whose
price is unknown gets no cost row (never a price of zero) and is listed in
diagnostics; the sum goes on after it without that hour's cost.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
import hashlib
from itertools import pairwise
import json
import time
from typing import Any, Final

from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .history import _HAS_UNIT_CLASS, HOUR, NAMES, MergedHistory, Series, statistic_id
from .prices import QUARTER, PriceTimeline, async_load_prices
from .statistics_writer import async_write_statistics
from .tariffs import SCHEDULE_NL, SCHEDULES, Schedule, meter_tariff_low

STORAGE_VERSION = 1
SAVE_DELAY = 30
WRITE_CHUNK = 500
COMPUTE_CHUNK = 1000  # hours computed between two yields to the event loop

# Options (under CONF_COSTS)
CONF_COSTS: Final = "costs"
CONF_IMPORT_PRICE: Final = "electricity_import_price"
CONF_IMPORT_PRICE_LOW: Final = "electricity_import_price_low"
CONF_EXPORT_PRICE: Final = "electricity_export_price"
CONF_EXPORT_PRICE_LOW: Final = "electricity_export_price_low"
CONF_GAS_PRICE: Final = "gas_price"
CONF_DAILY_CHARGE: Final = "daily_charge"
CONF_SCHEDULE: Final = "tariff_schedule"
CONF_LOW_START: Final = "low_start"
CONF_LOW_END: Final = "low_end"
CONF_LOW_WEEKENDS: Final = "low_weekends"
CONF_LOW_HOLIDAYS: Final = "low_holidays"
CONF_IMPORT_PRICE_ENTITY: Final = "electricity_import_price_entity"
CONF_EXPORT_PRICE_ENTITY: Final = "electricity_export_price_entity"
CONF_GAS_PRICE_ENTITY: Final = "gas_price_entity"

COST_SUFFIX: dict[Series, str] = {
    Series.ELECTRICITY_IMPORT: "cost",
    Series.ELECTRICITY_EXPORT: "compensation",
    Series.GAS: "cost",
}
COST_NAMES: dict[Series, str] = {
    Series.ELECTRICITY_IMPORT: "cost",
    Series.ELECTRICITY_EXPORT: "compensation",
    Series.GAS: "cost",
}
ENTITY_KEYS: dict[Series, str] = {
    Series.ELECTRICITY_IMPORT: CONF_IMPORT_PRICE_ENTITY,
    Series.ELECTRICITY_EXPORT: CONF_EXPORT_PRICE_ENTITY,
    Series.GAS: CONF_GAS_PRICE_ENTITY,
}
PRICE_KEYS: dict[Series, tuple[str, str | None]] = {
    Series.ELECTRICITY_IMPORT: (CONF_IMPORT_PRICE, CONF_IMPORT_PRICE_LOW),
    Series.ELECTRICITY_EXPORT: (CONF_EXPORT_PRICE, CONF_EXPORT_PRICE_LOW),
    Series.GAS: (CONF_GAS_PRICE, None),
}


def cost_statistic_id(meter: str, series: Series) -> str:
    """Return the external statistic id of a series' costs."""
    return f"{statistic_id(meter, series)}_{COST_SUFFIX[series]}"


@dataclass(frozen=True, slots=True)
class PriceSettings:
    """The prices the user set, per series: (normal, low or None), or an entity."""

    prices: dict[Series, tuple[float, float | None]]
    daily_charge: float = 0.0
    schedule: Schedule = SCHEDULES[SCHEDULE_NL]
    entities: dict[Series, str] = field(default_factory=dict)

    def priced(self, series: Series) -> bool:
        """Return whether a series has a price source."""
        return series in self.entities or series in self.prices

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> PriceSettings:
        """Return the settings stored in the entry's options (``costs``)."""
        options = options or {}
        prices: dict[Series, tuple[float, float | None]] = {}
        for series, (normal_key, low_key) in PRICE_KEYS.items():
            normal = options.get(normal_key)
            if normal is None:
                continue
            low = options.get(low_key) if low_key else None
            prices[series] = (float(normal), None if low is None else float(low))
        name = options.get(CONF_SCHEDULE, SCHEDULE_NL)
        schedule = SCHEDULES.get(name) or Schedule(
            int(options.get(CONF_LOW_START, 23)),
            int(options.get(CONF_LOW_END, 7)),
            bool(options.get(CONF_LOW_WEEKENDS, True)),
            bool(options.get(CONF_LOW_HOLIDAYS, False)),
        )
        entities = {
            series: str(options[key])
            for series, key in ENTITY_KEYS.items()
            if options.get(key)
        }
        return cls(
            prices, float(options.get(CONF_DAILY_CHARGE) or 0.0), schedule, entities
        )

    def fingerprint(self) -> str:
        """Return a short digest; costs are rewritten when it changes."""
        text = json.dumps(
            [
                sorted((s.value, p) for s, p in self.prices.items()),
                self.daily_charge,
                [
                    self.schedule.low_start,
                    self.schedule.low_end,
                    self.schedule.low_weekends,
                    self.schedule.low_holidays,
                ],
                sorted((s.value, e) for s, e in self.entities.items()),
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(slots=True)
class CostSeries:
    """The cost of each hour of one series, and the running sum."""

    hours: list[int] = field(default_factory=list)  # hour ends with a row
    sums: list[float] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)  # hour ends without a price
    dirty_from: int | None = None

    def truncate(self, hour_end: int) -> float:
        """Forget the hours from one on; return the sum before it."""
        index = bisect_left(self.hours, hour_end)
        del self.hours[index:]
        del self.sums[index:]
        del self.unknown[bisect_left(self.unknown, hour_end) :]
        return self.sums[-1] if self.sums else 0.0

    def mark(self, hour_end: int) -> None:
        """Write the rows from this hour on with the next write."""
        if self.dirty_from is None or hour_end < self.dirty_from:
            self.dirty_from = hour_end


class CostHistory:
    """The cost statistics of one meter, derived from its merged history."""

    def __init__(
        self,
        hass: HomeAssistant,
        history: MergedHistory,
        storage_key: str,
        settings: PriceSettings,
        spec: str = "",
    ) -> None:
        """Attach to the history; async_load() computes what is there."""
        self.hass = hass
        self.history = history
        self.settings = settings
        self.spec = spec
        self.series: dict[Series, CostSeries] = {}
        self.tariffs: dict[int, bool] = {}  # hour start: low tariff (meter's own)
        # Registers at quarter-hour boundaries within hours (thousandths), kept
        # while a price entity may hold quarter-hour prices for them.
        self.quarters: dict[Series, dict[int, int]] = {}
        self._pending: dict[Series, tuple[list[tuple[int, int, int]], int | None]] = {}
        self._day_hours: dict[date, int] = {}
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.costs.{storage_key}"
        )
        self._written: str | None = None  # fingerprint of the rows in the recorder
        self._lock = asyncio.Lock()

    # -- loading and settings -------------------------------------------

    async def async_load(self) -> None:
        """Restore the meter's tariffs; compute the costs, write if settings moved."""
        data = await self._store.async_load() or {}
        for start, count, low in data.get("tariffs", []):
            for step in range(int(count)):
                self.tariffs[int(start) + step * HOUR] = bool(low)
        for name, readings in data.get("quarters", {}).items():
            self.quarters[Series(name)] = {int(t): int(v) for t, v in readings}
        self._written = data.get("fingerprint")
        dirty = data.get("dirty", {})
        self.history.listener = self
        await self._async_recompute(
            rewrite=self._written != self.settings.fingerprint(), dirty=dirty
        )

    async def async_configure(self, settings: PriceSettings) -> None:
        """Use new prices: every cost row is computed and written again."""
        self.settings = settings
        await self._async_recompute(rewrite=True)

    async def _async_recompute(
        self, *, rewrite: bool, dirty: Mapping[str, int] | None = None
    ) -> None:
        async with self._lock:
            if rewrite:
                ids = [
                    cost_statistic_id(self.history.meter, series)
                    for series in COST_SUFFIX
                ]
                # Queued before the writes below; the recorder keeps the order.
                get_instance(self.hass).async_clear_statistics(ids)
            self.series.clear()
            for series, energy in list(self.history.series.items()):
                if series not in COST_SUFFIX or not self.settings.priced(series):
                    continue
                rows = energy.rows()
                costs = await self._async_compute(series, rows, None) if rows else None
                if costs is not None:
                    # Computed, not changed: written only where asked.
                    costs.dirty_from = None
                    hour = (dirty or {}).get(series.value)
                    if rewrite and rows:
                        costs.mark(rows[0][0])
                    elif hour is not None:
                        costs.mark(int(hour))
            self._written = self.settings.fingerprint()
            await self._async_write_dirty()

    # -- following the energy rows --------------------------------------

    def rows_changed(
        self, series: Series, rows: list[tuple[int, int, int]], before: int | None
    ) -> None:
        """Take rows the history is about to write; async_write prices them."""
        if series not in COST_SUFFIX or not rows:
            return
        pending = self._pending.get(series)
        if pending is not None and pending[0][0][0] < rows[0][0]:
            # An earlier write was stopped before its costs: keep its head.
            earlier, before = pending
            rows = [row for row in earlier if row[0] < rows[0][0]] + rows
        self._pending[series] = (rows, before)

    async def async_write(self) -> None:
        """Compute the costs of the rows taken, write them with later sums."""
        async with self._lock:
            while self._pending:
                series, (rows, before) = self._pending.popitem()
                try:
                    await self._async_compute(series, rows, before)
                except BaseException:
                    self._pending.setdefault(series, (rows, before))
                    raise
            await self._async_write_dirty()

    def cleared(self, series: Series) -> None:
        """Remove a series' costs: its energy rows were removed."""
        if series not in COST_SUFFIX:
            return
        self.series.pop(series, None)
        self._pending.pop(series, None)
        get_instance(self.hass).async_clear_statistics(
            [cost_statistic_id(self.history.meter, series)]
        )

    def record_tariff(self, hour_start: int, indicator: Any) -> None:
        """Keep the tariff the meter showed in an hour (once an hour)."""
        low = meter_tariff_low(indicator, self.spec)
        if low is not None and self.tariffs.get(hour_start) is not low:
            self.tariffs[hour_start] = low
            self._store.async_delay_save(self._data, SAVE_DELAY)

    def record_quarters(
        self, series: Series, readings: Iterable[tuple[datetime, int]]
    ) -> None:
        """Keep registers read at quarter-hours (thousandths), while useful.

        Only a price entity can price quarter-hours, and only for as long as
        the recorder keeps its states: older readings are not kept.
        """
        if series not in self.settings.entities:
            return
        oldest = time.time() - get_instance(self.hass).keep_days * 86400 - HOUR
        kept = self.quarters.setdefault(series, {})
        for moment, value in readings:
            stamp = int(moment.timestamp())
            if stamp % HOUR and not stamp % QUARTER and stamp >= oldest:
                kept[stamp] = value
        if kept and min(kept) < oldest:
            for stamp in [t for t in kept if t < oldest]:
                del kept[stamp]
        self._store.async_delay_save(self._data, SAVE_DELAY)

    async def _async_compute(
        self, series: Series, rows: list[tuple[int, int, int]], before: int | None
    ) -> CostSeries | None:
        """Compute the costs of rows (the tail of the series) into memory."""
        if not self.settings.priced(series):
            self.series.pop(series, None)
            return None
        timeline = None
        if entity := self.settings.entities.get(series):
            timeline = await async_load_prices(
                self.hass, entity, rows[0][0] - HOUR, rows[-1][0]
            )
        costs = None
        for offset in range(0, len(rows), COMPUTE_CHUNK):
            if offset:
                # Yield between chunks: years of hours take a while on a Pi.
                await asyncio.sleep(0)
                before = rows[offset - 1][2]
            chunk = rows[offset : offset + COMPUTE_CHUNK]
            costs = self._compute(series, chunk, before, timeline)
        return costs

    def _compute(
        self,
        series: Series,
        rows: list[tuple[int, int, int]],
        before: int | None,
        timeline: PriceTimeline | None,
    ) -> CostSeries:
        """Compute the costs of rows (the tail of the series) into memory."""
        costs = self.series.setdefault(series, CostSeries())
        first = rows[0][0]
        total = costs.truncate(first)
        normal, low = self.settings.prices.get(series, (0.0, None))
        quarters = self.quarters.get(series, {})
        daily = self.settings.daily_charge if series is Series.ELECTRICITY_IMPORT else 0
        schedule, tariffs = self.settings.schedule, self.tariffs
        previous = before
        for hour_end, state, energy_sum in rows:
            energy = energy_sum - previous if previous is not None else 0
            previous = energy_sum
            start = hour_end - HOUR
            local: datetime | None = None
            if timeline is not None and energy:  # nothing used costs nothing
                hour_cost = _entity_cost(timeline, quarters, start, state, energy)
                if hour_cost is None:
                    costs.unknown.append(hour_end)
                    continue
                cost = hour_cost
            elif timeline is not None:
                cost = 0.0
            else:
                price = normal
                if low is not None:
                    in_low = tariffs.get(start)
                    if in_low is None:
                        local = dt_util.as_local(datetime.fromtimestamp(start, UTC))
                        in_low = schedule.low(local)
                    price = low if in_low else normal
                cost = energy * price / 1000
            if daily:
                local = local or dt_util.as_local(datetime.fromtimestamp(start, UTC))
                cost += daily / self._hours_of(local.date())
            total += cost
            costs.hours.append(hour_end)
            costs.sums.append(total)
        costs.mark(first)
        return costs

    def _hours_of(self, day: date) -> int:
        """Return how many hours a local day has (23 or 25 when clocks change)."""
        hours = self._day_hours.get(day)
        if hours is None:
            start = dt_util.start_of_local_day(day)
            end = dt_util.start_of_local_day(day + timedelta(days=1))
            hours = self._day_hours[day] = round(
                (end.timestamp() - start.timestamp()) / HOUR
            )
        return hours

    # -- writing ---------------------------------------------------------

    async def _async_write_dirty(self) -> None:
        for series, costs in list(self.series.items()):
            if costs.dirty_from is None:
                continue
            index = bisect_left(costs.hours, costs.dirty_from)
            costs.dirty_from = None
            hours, sums = costs.hours[index:], costs.sums[index:]
            for offset in range(0, len(hours), WRITE_CHUNK):
                self._add(
                    series,
                    hours[offset : offset + WRITE_CHUNK],
                    sums[offset : offset + WRITE_CHUNK],
                )
                try:
                    await asyncio.sleep(0)
                except asyncio.CancelledError:
                    if offset + WRITE_CHUNK < len(hours):
                        costs.mark(hours[offset + WRITE_CHUNK])
                    self._store.async_delay_save(self._data, SAVE_DELAY)
                    raise
        self._store.async_delay_save(self._data, SAVE_DELAY)

    def _add(self, series: Series, hours: list[int], sums: list[float]) -> None:
        meter = self.history.meter
        metadata: dict[str, Any] = {
            "has_sum": True,
            "mean_type": StatisticMeanType.NONE,
            "name": f"{meter} {NAMES[series]} {COST_NAMES[series]}",
            "source": DOMAIN,
            "statistic_id": cost_statistic_id(meter, series),
            "unit_of_measurement": self.hass.config.currency,
        }
        if _HAS_UNIT_CLASS:
            metadata["unit_class"] = None
        async_write_statistics(
            self.hass,
            StatisticMetaData(**metadata),  # type: ignore[typeddict-item]
            [
                StatisticData(
                    start=datetime.fromtimestamp(hour - HOUR, UTC),
                    state=round(total, 6),
                    sum=round(total, 6),
                )
                for hour, total in zip(hours, sums, strict=True)
            ],
        )

    # -- storage and diagnostics ----------------------------------------

    def _data(self) -> dict[str, Any]:
        runs: list[list[Any]] = []
        for start in sorted(self.tariffs):
            low = self.tariffs[start]
            if (
                runs
                and runs[-1][2] is low
                and runs[-1][0] + runs[-1][1] * HOUR == start
            ):
                runs[-1][1] += 1
            else:
                runs.append([start, 1, low])
        return {
            "fingerprint": self._written,
            "tariffs": runs,
            "quarters": {
                series.value: sorted(kept.items())
                for series, kept in self.quarters.items()
                if kept
            },
            "dirty": {
                **{
                    series.value: costs.dirty_from
                    for series, costs in self.series.items()
                    if costs.dirty_from is not None
                },
                **{
                    series.value: rows[0][0]
                    for series, (rows, _) in self._pending.items()
                },
            },
        }

    async def async_save(self) -> None:
        """Persist now (on unload)."""
        await self._store.async_save(self._data())

    def summary(self) -> dict[str, Any]:
        """Return per series: rows, the total and the hours without a price."""
        return {
            series.value: {
                "hours": len(costs.hours),
                "total": round(costs.sums[-1], 2) if costs.sums else 0.0,
                "unknown_price_hours": _ranges(costs.unknown),
            }
            for series, costs in self.series.items()
        }


def _entity_cost(
    timeline: PriceTimeline,
    quarters: Mapping[int, int],
    start: int,
    state: int,
    energy: int,
) -> float | None:
    """Return an hour's cost at an entity's prices, by quarter-hour where known.

    With the registers at the hour's three inner quarter-hours, each quarter's
    energy is priced at that quarter's price; otherwise the hour's energy at
    the hour's mean price.
    """
    inner = [quarters.get(start + step * QUARTER) for step in (1, 2, 3)]
    registers = [value for value in inner if value is not None]
    prices = timeline.quarters(start) if energy and len(registers) == 3 else []
    known = [price for price in prices if price is not None]
    if len(known) == 4:
        points = [state - energy, *registers, state]
        steps = [b - a for a, b in pairwise(points)]
        if min(steps) >= 0:
            return sum(s * p for s, p in zip(steps, known, strict=True)) / 1000
    price = timeline.hour(start)
    return None if price is None else energy * price / 1000


def _ranges(hours: list[int]) -> list[list[str]]:
    """Return runs of hour ends as [first, last] ISO times."""
    runs: list[list[int]] = []
    for hour in hours:
        if runs and runs[-1][1] + HOUR == hour:
            runs[-1][1] = hour
        else:
            runs.append([hour, hour])
    return [
        [
            datetime.fromtimestamp(a, UTC).isoformat(),
            datetime.fromtimestamp(b, UTC).isoformat(),
        ]
        for a, b in runs
    ]

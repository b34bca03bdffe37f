"""One gap-free energy history per meter, fed by both paths.

The only writer of long-term statistics. Both paths read the same physical
registers, so both feed the same hourly series: the local path records the
register at each hour boundary as hours complete, the remote path adds the
grid operator's readings. Where both have an hour, the local reading wins
(differences are counted); the remote path fills every hour the local one
lacks. History imported from another integration's statistics ranks lowest
and fills only hours neither path has. Register values are kept as integers
in thousandths (Wh, litres), so merging and sums are exact.

Each statistics row covers one hour: `state` is the register at the hour's
end, `sum` the consumption since the first known reading. A register that
goes down (a replaced meter, a reset) rebases the sum instead of making a
negative step.

Hours that no source has (a gap between two known readings) are estimated:
the energy of the gap is spread evenly over its hours, so no hour carries a
day's consumption. The known readings around and inside a gap anchor it (a
day reading at midnight splits a long gap into days). Estimated rows are
never stored as readings: any real reading of any source replaces them, and
the rows of its gap and every later sum are written again. The row after a
gap thus carries only its own share, never the whole gap.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left, insort
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.const import UnitOfEnergy, UnitOfVolume
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
from homeassistant.helpers.storage import Store

from .const import DOMAIN
from .statistics_writer import async_write_statistics

LOCAL = "l"
REMOTE = "r"
IMPORTED = "i"
# Where two sources have an hour, the higher rank wins.
RANK = {LOCAL: 2, REMOTE: 1, IMPORTED: 0}
HOUR = 3600
STORAGE_VERSION = 1
SAVE_DELAY = 30
WRITE_CHUNK = 500  # rows per recorder job, so the event loop never blocks long


class Series(StrEnum):
    """The registers kept as history."""

    ELECTRICITY_IMPORT = "electricity_import"
    ELECTRICITY_EXPORT = "electricity_export"
    GAS = "gas"
    WATER = "water"


UNITS: dict[Series, str] = {
    Series.ELECTRICITY_IMPORT: UnitOfEnergy.KILO_WATT_HOUR,
    Series.ELECTRICITY_EXPORT: UnitOfEnergy.KILO_WATT_HOUR,
    Series.GAS: UnitOfVolume.CUBIC_METERS,
    Series.WATER: UnitOfVolume.CUBIC_METERS,
}
UNIT_CLASSES: dict[Series, str] = {
    Series.ELECTRICITY_IMPORT: "energy",
    Series.ELECTRICITY_EXPORT: "energy",
    Series.GAS: "volume",
    Series.WATER: "volume",
}
NAMES: dict[Series, str] = {
    Series.ELECTRICITY_IMPORT: "electricity import",
    Series.ELECTRICITY_EXPORT: "electricity export",
    Series.GAS: "gas",
    Series.WATER: "water",
}
# Home Assistant 2025.11 added unit_class to statistics metadata; older
# versions build the database row from the keys, so it must not be passed.
_HAS_UNIT_CLASS = "unit_class" in StatisticMetaData.__annotations__


def statistic_id(meter: str, series: Series) -> str:
    """Return the external statistic id of a meter's series."""
    object_id = "".join(c if c.isalnum() else "_" for c in meter.lower()).strip("_")
    return f"{DOMAIN}:{object_id}_{series.value}"


def milli(value: Any) -> int:
    """Return a register value (kWh or m³) in thousandths."""
    return round(float(value) * 1000)


@dataclass(slots=True)
class SeriesHistory:
    """Hourly register readings of one series, by hour end (epoch seconds)."""

    hours: list[int] = field(default_factory=list)
    values: dict[int, tuple[int, str]] = field(default_factory=dict)
    dirty_from: int | None = None  # earliest hour end whose row must be written
    disagreements: int = 0
    # The sum at each of the first hours, kept while their readings stay, so
    # a write of the newest rows does not add up the whole history again.
    sums: list[int] = field(default_factory=list, repr=False, compare=False)

    @staticmethod
    def estimate(start: int, end: int, first: int, last: int) -> list[int]:
        """Return the registers estimated at the hours strictly between two.

        The gap's energy is spread evenly over its hours, in whole thousandths
        (the last hour takes the rounding, so totals stay exact). A register
        that went down (a replaced meter) is held until the known reading.
        """
        steps = (end - start) // HOUR
        if last < first:
            return [first] * (steps - 1)
        return [first + (last - first) * step // steps for step in range(1, steps)]

    def gaps(self) -> list[tuple[int, int]]:
        """Return (first, last) hour end of every run of estimated hours."""
        return [
            (before + HOUR, after - HOUR)
            for before, after in zip(self.hours, self.hours[1:], strict=False)
            if after - before > HOUR
        ]

    def estimated(self) -> int:
        """Return how many hours are estimated."""
        return sum((last - first) // HOUR + 1 for first, last in self.gaps())

    def put(self, hour_end: int, value: int, source: str) -> bool:
        """Store a reading; local beats remote, and both beat imported ones."""
        current = self.values.get(hour_end)
        if current is not None:
            if current == (value, source):
                return False
            if RANK[current[1]] > RANK[source]:
                if current[1] == LOCAL and source == REMOTE and current[0] != value:
                    self.disagreements += 1
                return False
            self._forget_sums(hour_end)
        elif not self.hours or hour_end > self.hours[-1]:
            self.hours.append(hour_end)  # the usual case: a newer hour
        else:
            insort(self.hours, hour_end)
            self._forget_sums(hour_end)
        self.values[hour_end] = (value, source)
        # The estimated hours before it, back to the known one, change too.
        index = bisect_left(self.hours, hour_end)
        self._dirty(self.hours[index - 1] + HOUR if index else hour_end)
        return True

    def remove(self, hour_end: int) -> None:
        """Forget one reading; its hour and the ones around it are estimated."""
        index = bisect_left(self.hours, hour_end)
        self._forget_sums(hour_end)
        del self.hours[index]
        del self.values[hour_end]
        if self.hours:
            self._dirty(self.hours[index - 1] + HOUR if index else self.hours[0])

    def drop_source(self, source: str) -> int:
        """Forget every reading of one source; return how many."""
        gone = [hour for hour, (_, src) in self.values.items() if src == source]
        for hour in gone:
            del self.values[hour]
        if gone:
            self.hours = sorted(self.values)
            self.sums.clear()
            self.dirty_from = self.hours[0] if self.hours else None
        return len(gone)

    def _dirty(self, hour_end: int) -> None:
        if self.dirty_from is None or hour_end < self.dirty_from:
            self.dirty_from = hour_end

    def _forget_sums(self, hour_end: int) -> None:
        """Drop the kept sums from an hour on (its reading changed)."""
        del self.sums[bisect_left(self.hours, hour_end) :]

    def rows(self, start_index: int = 0) -> list[tuple[int, int, int]]:
        """Return (hour end, state, sum) from an index, sums from the start.

        The estimated hours of the gap before each known hour come with it.
        """
        hours, values, sums = self.hours, self.values, self.sums
        known = len(sums)
        total = sums[-1] if known else 0
        previous = values[hours[known - 1]][0] if known else None
        for hour in hours[known:]:
            value = values[hour][0]
            if previous is not None and value > previous:
                total += value - previous
            previous = value
            sums.append(total)
        rows: list[tuple[int, int, int]] = []
        for index in range(start_index, len(hours)):
            hour = hours[index]
            if index and hour - hours[index - 1] > HOUR:
                before = hours[index - 1]
                first, base = values[before][0], sums[index - 1]
                estimates = self.estimate(before, hour, first, values[hour][0])
                rows.extend(
                    (before + step * HOUR, value, base + value - first)
                    for step, value in enumerate(estimates, 1)
                )
            rows.append((hour, values[hour][0], sums[index]))
        return rows

    def count(self, source: str) -> int:
        """Return how many hours come from a source."""
        return sum(1 for _, src in self.values.values() if src == source)

    def to_json(self) -> list[list[Any]]:
        """Return the readings in a compact form for storage."""
        return [[hour, *self.values[hour]] for hour in self.hours]

    @classmethod
    def from_json(cls, data: list[list[Any]]) -> SeriesHistory:
        """Restore stored readings."""
        history = cls()
        for hour, value, source in data:
            history.values[int(hour)] = (int(value), str(source))
        history.hours = sorted(history.values)
        return history


class HistoryListener(Protocol):
    """Follows the rows written (the costs derived from them)."""

    def rows_changed(
        self, series: Series, rows: list[tuple[int, int, int]], before: int | None
    ) -> None:
        """Take rows about to be written (a series' tail); ``before``: prior sum."""

    def cleared(self, series: Series) -> None:
        """Forget a series: its rows are removed and written again."""

    def record_quarters(
        self, series: Series, readings: Iterable[tuple[datetime, int]]
    ) -> None:
        """Take registers read at quarter-hours within hours (thousandths)."""

    async def async_write(self) -> None:
        """Write what the rows changed."""


class MergedHistory:
    """The merged hourly history of one meter, written as statistics."""

    def __init__(self, hass: HomeAssistant, meter: str, storage_key: str) -> None:
        """Create an empty history; async_load() restores the stored one."""
        self.hass = hass
        self.meter = meter
        self.series: dict[Series, SeriesHistory] = {}
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.history.{storage_key}"
        )
        self._write_lock = asyncio.Lock()
        self.listener: HistoryListener | None = None

    async def async_load(self) -> None:
        """Restore the readings kept so far."""
        data = await self._store.async_load() or {}
        for name, readings in data.get("series", {}).items():
            self.series[Series(name)] = SeriesHistory.from_json(readings)
        # Rows a stopped write left out are written with the next write: the
        # next change, or the remote path's next sync run.
        for name, hour_end in data.get("dirty", {}).items():
            self._series(Series(name))._dirty(int(hour_end))

    def _series(self, series: Series) -> SeriesHistory:
        if series not in self.series:
            self.series[series] = SeriesHistory()
        return self.series[series]

    def record_local(self, series: Series, hour_end: datetime, value: Any) -> bool:
        """Record the register at an hour boundary as read from the P1 port."""
        return self._series(series).put(_epoch(hour_end), milli(value), LOCAL)

    def merge_remote(
        self, series: Series, readings: Iterable[tuple[datetime, int]]
    ) -> int:
        """Add remote readings (hour end, thousandths); return how many changed."""
        history = self._series(series)
        return sum(
            history.put(_epoch(hour_end), value, REMOTE) for hour_end, value in readings
        )

    def replace_remote(
        self, series: Series, readings: Iterable[tuple[datetime, int]]
    ) -> int:
        """Make these the remote readings of a series; return how many changed.

        For a source whose readings are derived anew each time (anchored
        usage): a reading it no longer gives is forgotten, not kept stale.
        """
        history = self._series(series)
        keep = {_epoch(hour_end): value for hour_end, value in readings}
        stale = [
            hour
            for hour, (_, source) in history.values.items()
            if source == REMOTE and hour not in keep
        ]
        for hour in stale:
            history.remove(hour)
        return len(stale) + sum(
            history.put(hour, value, REMOTE) for hour, value in keep.items()
        )

    def last_local(self, series: Series) -> int | None:
        """Return the hour end of the P1 port's newest register of a series."""
        history = self.series.get(series)
        if history is None:
            return None
        for hour in reversed(history.hours):  # usually the newest hour
            if history.values[hour][1] == LOCAL:
                return hour
        return None

    def local_readings(self, series: Series) -> dict[int, int]:
        """Return the P1 port's registers of a series: hour end -> thousandths."""
        history = self.series.get(series)
        if history is None:
            return {}
        return {
            hour: value
            for hour, (value, source) in history.values.items()
            if source == LOCAL
        }

    def merge_imported(
        self, series: Series, readings: Iterable[tuple[int, int]]
    ) -> int:
        """Add imported readings (hour end, thousandths); return how many changed."""
        history = self._series(series)
        return sum(history.put(hour, value, IMPORTED) for hour, value in readings)

    def merge_quarters(
        self, series: Series, readings: Iterable[tuple[datetime, int]]
    ) -> None:
        """Pass on registers read within hours (the hourly rows do not keep them)."""
        if self.listener is not None:
            self.listener.record_quarters(series, readings)

    @property
    def pending(self) -> bool:
        """Return whether rows wait to be written (a write was stopped)."""
        return any(h.dirty_from is not None for h in self.series.values())

    def covered_until(self) -> datetime | None:
        """Return the end of the latest hour any series holds."""
        ends = [history.hours[-1] for history in self.series.values() if history.hours]
        return datetime.fromtimestamp(max(ends), UTC) if ends else None

    def oldest(self) -> datetime | None:
        """Return the end of the earliest hour any series holds."""
        starts = [history.hours[0] for history in self.series.values() if history.hours]
        return datetime.fromtimestamp(min(starts), UTC) if starts else None

    async def async_remove_remote(self) -> int:
        """Forget what the remote path imported; rewrite the series from local."""
        return await self.async_remove_source(REMOTE)

    async def async_remove_source(self, source: str) -> int:
        """Forget one source's readings; rewrite the series from the rest."""
        removed = 0
        for series, history in self.series.items():
            count = history.drop_source(source)
            removed += count
            if count:
                # Queued before the rewrite below; the recorder keeps the order.
                get_instance(self.hass).async_clear_statistics(
                    [statistic_id(self.meter, series)]
                )
                if self.listener is not None:
                    self.listener.cleared(series)
                history.dirty_from = history.hours[0] if history.hours else None
        await self.async_write()
        return removed

    async def async_write(self) -> None:
        """Write every changed row and all later sums; persist the readings."""
        async with self._write_lock:
            # A copy: readings of a new series may come in while this yields.
            for series, history in list(self.series.items()):
                if history.dirty_from is None:
                    continue
                start = bisect_left(history.hours, history.dirty_from)
                history.dirty_from = None
                rows = history.rows(start)
                if self.listener is not None and rows:
                    before = history.sums[start - 1] if start else None
                    self.listener.rows_changed(series, rows, before)
                for offset in range(0, len(rows), WRITE_CHUNK):
                    self._add(series, rows[offset : offset + WRITE_CHUNK])
                    try:
                        await asyncio.sleep(0)
                    except asyncio.CancelledError:
                        # Stopped halfway (unload, shutdown): keep the rest
                        # dirty, or those rows would never be written.
                        if offset + WRITE_CHUNK < len(rows):
                            history._dirty(rows[offset + WRITE_CHUNK][0])
                        raise
            if self.listener is not None:
                await self.listener.async_write()
            self._store.async_delay_save(self._data, SAVE_DELAY)

    def _add(self, series: Series, rows: list[tuple[int, int, int]]) -> None:
        metadata: dict[str, Any] = {
            "has_sum": True,
            "mean_type": StatisticMeanType.NONE,
            "name": f"{self.meter} {NAMES[series]}",
            "source": DOMAIN,
            "statistic_id": statistic_id(self.meter, series),
            "unit_of_measurement": UNITS[series],
        }
        if _HAS_UNIT_CLASS:
            metadata["unit_class"] = UNIT_CLASSES[series]
        async_write_statistics(
            self.hass,
            StatisticMetaData(**metadata),  # type: ignore[typeddict-item]
            [
                StatisticData(
                    start=datetime.fromtimestamp(hour - HOUR, UTC),
                    state=value / 1000,
                    sum=total / 1000,
                )
                for hour, value, total in rows
            ],
        )

    def _data(self) -> dict[str, Any]:
        return {
            "series": {
                series.value: history.to_json()
                for series, history in self.series.items()
            },
            "dirty": {
                series.value: history.dirty_from
                for series, history in self.series.items()
                if history.dirty_from is not None
            },
        }

    async def async_save(self) -> None:
        """Persist now (on unload)."""
        await self._store.async_save(self._data())

    def summary(self) -> dict[str, Any]:
        """Return counts and ranges per series, for diagnostics."""
        return {
            series.value: {
                "statistic_id": statistic_id(self.meter, series),
                "hours": len(history.hours),
                "local": history.count(LOCAL),
                "remote": history.count(REMOTE),
                "estimated": history.estimated(),
                "estimated_hours": [
                    [_iso(first), _iso(last)] for first, last in history.gaps()
                ],
                "disagreements": history.disagreements,
                "imported": history.count(IMPORTED),
                "first": _iso(history.hours[0]) if history.hours else None,
                "last": _iso(history.hours[-1]) if history.hours else None,
            }
            for series, history in self.series.items()
        }


def _epoch(moment: datetime) -> int:
    """Return a whole hour as epoch seconds."""
    return int(moment.timestamp()) // HOUR * HOUR


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()

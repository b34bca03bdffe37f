"""Bring another integration's long-term statistics into the merged history.

A source statistic (core dsmr, HomeWizard, DSMR Reader, a utility meter…)
is read hour by hour, converted to our unit and added to the merged history
as its lowest-ranked source: it fills only hours neither the P1 port nor
the grid operator has. The source's statistics are only read.

The merged history keeps registers. An imported hour is kept as the
source's `sum` shifted onto our register: each run of hours our history
lacks is shifted so that it joins the next hour our history holds (or the
last one, when the run comes after all of it). Consumption inside a run is
the source's own (its resets already taken out of its sum), and the step
into our own readings is the source's consumption in that hour, so the
merged sum stays continuous. The same input gives the same readings, so an
import run twice changes nothing; removing the imported source rewrites
the series from the rest.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby, pairwise
from typing import Any

from homeassistant.components.recorder.statistics import (
    get_metadata,
    statistics_during_period,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.recorder import get_instance
from homeassistant.util.unit_conversion import (
    BaseUnitConverter,
    EnergyConverter,
    VolumeConverter,
)

from .const import DOMAIN
from .history import HOUR, IMPORTED, UNITS, MergedHistory, Series, SeriesHistory

CONVERTERS: dict[Series, type[BaseUnitConverter]] = {
    Series.ELECTRICITY_IMPORT: EnergyConverter,
    Series.ELECTRICITY_EXPORT: EnergyConverter,
    Series.GAS: VolumeConverter,
    Series.WATER: VolumeConverter,
}
# Hourly consumption differing by at most this many thousandths agrees.
AGREE_TOLERANCE = 5
# A source register this close to ours at the joining hour is the same meter
# (hour rows hold the last state of the hour; we read at the boundary).
JOIN_TOLERANCE = 100
# A state that drops more than once, and more often than once in this many
# hours, is not a meter register (a daily or monthly utility meter, say).
REGISTER_HOURS_PER_DROP = 24 * 30


class SourceError(Exception):
    """A source statistic that cannot be imported; translation key and details."""

    def __init__(self, key: str, statistic_id: str) -> None:
        """Keep the reason and the statistic."""
        super().__init__(f"{key}: {statistic_id}")
        self.key = key
        self.statistic_id = statistic_id


@dataclass(frozen=True, slots=True)
class Candidate:
    """A statistic that can be imported into a series."""

    statistic_id: str
    name: str
    unit: str


@dataclass(slots=True)
class SourceRows:
    """The hourly rows of a source statistic in our unit, in thousandths."""

    statistic_id: str
    hours: list[int] = field(default_factory=list)  # hour ends, epoch seconds
    sums: dict[int, int] = field(default_factory=dict)
    states: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Join:
    """Where the source meets our own readings: both registers at that hour."""

    hour_end: int
    source: int
    ours: int
    matches: bool


@dataclass(slots=True)
class SeriesPlan:
    """What importing one source into one series would do."""

    series: Series
    statistic_id: str
    readings: list[tuple[int, int]] = field(default_factory=list)
    first: int | None = None
    last: int | None = None
    added: int = 0
    overlapping: int = 0
    disagreeing: int = 0
    largest_difference: int = 0
    drops: list[int] = field(default_factory=list)
    register: bool = False
    join: Join | None = None

    @property
    def mismatch(self) -> bool:
        """Return whether the source's register is not ours at the join."""
        return self.join is not None and not self.join.matches

    def as_dict(self) -> dict[str, Any]:
        """Return the preview in plain values (kWh or m³), for an action's answer."""
        return {
            "statistic_id": self.statistic_id,
            "first": _iso(self.first - HOUR) if self.first is not None else None,
            "last": _iso(self.last) if self.last is not None else None,
            "hours_added": self.added,
            "hours_overlapping": self.overlapping,
            "hours_disagreeing": self.disagreeing,
            "largest_difference": self.largest_difference / 1000,
            "unit": UNITS[self.series],
            "register_drops": [_iso(hour) for hour in self.drops],
            "join": None
            if self.join is None
            else {
                "hour_end": _iso(self.join.hour_end),
                "source_register": self.join.source / 1000,
                "our_register": self.join.ours / 1000,
                "matches": self.join.matches,
            },
        }


def _metadata_unit(metadata: Any) -> str | None:
    unit: str | None = metadata.get("unit_of_measurement")
    return unit


async def async_candidates(hass: HomeAssistant) -> dict[Series, list[Candidate]]:
    """Return, per series, the statistics with a sum in a unit it can take."""
    found: dict[str, tuple[int, Any]] = await get_instance(hass).async_add_executor_job(
        lambda: get_metadata(hass, statistic_type="sum")
    )
    result: dict[Series, list[Candidate]] = {series: [] for series in Series}
    entities = er.async_get(hass)
    for statistic_id, (_, metadata) in sorted(found.items()):
        if metadata.get("source") == DOMAIN or not metadata.get("has_sum"):
            continue  # our own history
        entity = entities.async_get(statistic_id)
        if entity is not None and entity.platform == DOMAIN:
            continue  # our own sensors' statistics
        unit = _metadata_unit(metadata)
        for series, converter in CONVERTERS.items():
            if unit in converter.VALID_UNITS:
                result[series].append(
                    Candidate(
                        statistic_id, metadata.get("name") or statistic_id, unit or ""
                    )
                )
    return result


async def async_read_source(
    hass: HomeAssistant, series: Series, statistic_id: str
) -> SourceRows:
    """Read a source statistic's hourly rows, converted to the series' unit."""
    instance = get_instance(hass)
    found: dict[str, tuple[int, Any]] = await instance.async_add_executor_job(
        lambda: get_metadata(hass, statistic_ids={statistic_id})
    )
    if statistic_id not in found:
        raise SourceError("import_source_missing", statistic_id)
    metadata = found[statistic_id][1]
    unit = _metadata_unit(metadata)
    converter = CONVERTERS[series]
    if not metadata.get("has_sum"):
        raise SourceError("import_source_no_sum", statistic_id)
    if unit not in converter.VALID_UNITS:
        raise SourceError("import_source_unit", statistic_id)
    rows: dict[str, list[Any]] = await instance.async_add_executor_job(
        statistics_during_period,
        hass,
        datetime.fromtimestamp(0, UTC),
        None,
        {statistic_id},
        "hour",
        None,
        {"state", "sum"},
    )
    convert = converter.converter_factory(unit, UNITS[series])
    source = SourceRows(statistic_id)
    for row in rows.get(statistic_id, []):
        if row.get("sum") is None:
            continue
        hour_end = int(row["start"]) + HOUR
        source.hours.append(hour_end)
        source.sums[hour_end] = round(convert(float(row["sum"])) * 1000)
        if row.get("state") is not None:
            source.states[hour_end] = round(convert(float(row["state"])) * 1000)
    return source


def plan(series: Series, source: SourceRows, history: SeriesHistory) -> SeriesPlan:
    """Work out the readings an import adds, and what the preview shows."""
    result = SeriesPlan(series, source.statistic_id)
    hours = source.hours
    if not hours:
        return result
    result.first, result.last = hours[0], hours[-1]
    sums, states = source.sums, source.states
    ours = [hour for hour in history.hours if history.values[hour][1] != IMPORTED]
    own = {hour: history.values[hour][0] for hour in ours}
    # A drop of the state: a reset or a replaced meter.
    result.drops = [
        hour
        for previous, hour in pairwise(hours)
        if previous in states and hour in states and states[hour] < states[previous]
    ]
    result.register = bool(states) and len(result.drops) <= max(
        1, len(hours) // REGISTER_HOURS_PER_DROP
    )
    missing = [hour for hour in hours if hour not in own]
    for index, run_hours in groupby(missing, key=lambda hour: bisect_left(ours, hour)):
        run = list(run_hours)
        offset = _offset(run, index, ours, own, source)
        result.readings.extend((hour, sums[hour] + offset) for hour in run)
    result.added = sum(1 for hour in missing if hour not in history.values)
    for hour in hours:
        if hour not in own:
            continue
        result.overlapping += 1
        before = hour - HOUR
        if before in own and before in sums:
            theirs = sums[hour] - sums[before]
            mine = max(0, own[hour] - own[before])
            difference = abs(theirs - mine)
            if difference > AGREE_TOLERANCE:
                result.disagreeing += 1
                result.largest_difference = max(result.largest_difference, difference)
    if result.register and ours and hours[0] < ours[0]:
        result.join = _join(ours[0], own[ours[0]], source)
    return result


def _offset(
    run: list[int], index: int, ours: list[int], own: dict[int, int], source: SourceRows
) -> int:
    """Return the shift that puts a run of source sums onto our register."""
    sums = source.sums
    if index < len(ours):  # join the next hour we hold
        anchor = ours[index]
        return own[anchor] - sums.get(anchor, sums[run[-1]])
    if ours:  # after all we hold: continue from the last hour
        anchor = ours[-1]
        return own[anchor] - sums.get(anchor, sums[run[0]])
    last = source.hours[-1]  # nothing of our own: end on the source's register
    return source.states.get(last, sums[last]) - sums[last]


def _join(anchor: int, ours: int, source: SourceRows) -> Join | None:
    """Compare the source's register with ours where our readings begin."""
    states = source.states
    if anchor in states:
        theirs = states[anchor]
        return Join(anchor, theirs, ours, abs(theirs - ours) <= JOIN_TOLERANCE)
    before = [hour for hour in source.hours if hour < anchor and hour in states]
    if not before:
        return None
    theirs = states[before[-1]]
    # A gap between them: our register can only have gone up since.
    return Join(anchor, theirs, ours, theirs <= ours + JOIN_TOLERANCE)


async def async_plan(
    hass: HomeAssistant, history: MergedHistory, choices: dict[Series, str]
) -> list[SeriesPlan]:
    """Read every chosen source and plan its import."""
    plans = []
    for series, statistic_id in choices.items():
        source = await async_read_source(hass, series, statistic_id)
        plans.append(plan(series, source, history.series.get(series, SeriesHistory())))
    return plans


async def async_apply(history: MergedHistory, plans: list[SeriesPlan]) -> int:
    """Add the planned readings and write the statistics; return hours changed."""
    changed = sum(history.merge_imported(item.series, item.readings) for item in plans)
    await history.async_write()
    return changed


async def async_remove(history: MergedHistory) -> int:
    """Forget every imported hour; the source's own statistics stay."""
    return await history.async_remove_source(IMPORTED)


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
